/**
 * The REST APIs of one stack's template, as the local API Gateway (./apigateway.ts) serves them:
 * every `AWS::ApiGateway::RestApi` with its resource tree (`AWS::ApiGateway::Resource`, ParentId
 * and PathPart from the RestApi's `RootResourceId`), its methods (`AWS::ApiGateway::Method`:
 * HttpMethod, AuthorizationType, the integration and, for a Lambda proxy, the function ARN its Uri
 * names), its stages (`AWS::ApiGateway::Stage`, or a Deployment's `StageName`) and its gateway
 * responses (`AWS::ApiGateway::GatewayResponse`). Nothing here knows the TaskApi's routes: what
 * the template says is what is served.
 */
import { type Template, TemplateError } from './assembly';
import type { TemplateResolver } from './intrinsics';

/** The template types read here; template.ts leaves them to this module. */
export const API_GATEWAY_TYPES: ReadonlySet<string> = new Set([
  'AWS::ApiGateway::RestApi',
  'AWS::ApiGateway::Resource',
  'AWS::ApiGateway::Method',
  'AWS::ApiGateway::Stage',
  'AWS::ApiGateway::Deployment',
  'AWS::ApiGateway::GatewayResponse',
]);

export interface LocalApiIntegration {
  /** `AWS_PROXY`, `AWS`, `HTTP_PROXY`, `MOCK`, …; only `AWS_PROXY` to a Lambda function is served. */
  readonly type: string;
  readonly uri?: string;
  /** The Lambda function ARN of a `…:lambda:path/2015-03-31/functions/<arn>/invocations` Uri. */
  readonly functionArn?: string;
}

export interface LocalApiMethod {
  readonly logicalId: string;
  /** `GET`, `POST`, …, or `ANY`. */
  readonly httpMethod: string;
  /** `NONE`, `AWS_IAM`, `CUSTOM`, `COGNITO_USER_POOLS`. */
  readonly authorizationType: string;
  readonly integration: LocalApiIntegration;
}

export interface LocalApiResource {
  readonly id: string;
  /** Absent for the root resource. */
  readonly logicalId?: string;
  readonly parentId?: string;
  /** `''` for the root, else a path part: `tasks`, `{taskId}`, `{proxy+}`. */
  readonly pathPart: string;
  /** The resource path: `/`, `/functions/{functionName}/tasks`. */
  readonly path: string;
  readonly methods: readonly LocalApiMethod[];
}

export interface LocalGatewayResponse {
  readonly logicalId: string;
  /** `MISSING_AUTHENTICATION_TOKEN`, `INVALID_SIGNATURE`, `DEFAULT_4XX`, … */
  readonly responseType: string;
  readonly statusCode?: number;
  /** Body templates by content type (`$context.*` variables, evaluated per response). */
  readonly templates: Readonly<Record<string, string>>;
  /** Static headers (`gatewayresponse.header.<name>: "'value'"`). */
  readonly headers: Readonly<Record<string, string>>;
}

export interface LocalRestApi {
  readonly logicalId: string;
  readonly stackName: string;
  /** The API id (`Ref` of the RestApi): the `<apiId>` of its execute-api URL. */
  readonly id: string;
  readonly name: string;
  readonly rootResourceId: string;
  /** Every resource, the root first. */
  readonly resources: readonly LocalApiResource[];
  readonly stages: readonly string[];
  readonly gatewayResponses: readonly LocalGatewayResponse[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const LAMBDA_URI = /:lambda:path\/2015-03-31\/functions\/(.+)\/invocations$/;

/**
 * The REST APIs of `template` (resolved with `r`), with notes on what the local API Gateway does
 * not serve. A resource, method, stage or gateway response of an API the template does not define,
 * or a resource whose parent is unknown, is a TemplateError naming it.
 */
export function restApisOf(template: Template, r: TemplateResolver): { apis: LocalRestApi[]; notes: string[] } {
  const stackName = r.stackName;
  const notes: string[] = [];
  const of = (type: string) =>
    Object.entries(template.Resources ?? {})
      .filter(([id, res]) => res.Type === type && r.resourceEnabled(id))
      .map(([id, res]) => ({ id, p: (r.resolveIn(`resource '${id}'`, res.Properties ?? {}) ?? {}) as Record<string, unknown> }));
  const where = (id: string) => `API Gateway resource '${id}' of stack '${stackName}'`;

  const apis = new Map<string, { api: Omit<LocalRestApi, 'resources' | 'stages' | 'gatewayResponses'>; stages: Set<string> }>();
  for (const { id, p } of of('AWS::ApiGateway::RestApi')) {
    if (p.Body !== undefined || p.BodyS3Location !== undefined) {
      notes.push(`REST API ${id}: an OpenAPI Body is not read locally; only its AWS::ApiGateway::Resource and Method resources are served`);
    }
    apis.set(String(r.ref(id)), {
      api: {
        logicalId: id,
        stackName,
        id: String(r.ref(id)),
        name: String(p.Name ?? r.physicalName(id)),
        rootResourceId: String(r.getAtt(id, 'RootResourceId')),
      },
      stages: new Set(),
    });
  }
  const apiOf = (id: string, p: Record<string, unknown>) => {
    const api = apis.get(String(p.RestApiId));
    if (!api) {
      throw new TemplateError(
        `${where(id)} names RestApiId '${String(p.RestApiId)}', which is no AWS::ApiGateway::RestApi of the stack (${[...apis.values()].map((a) => a.api.logicalId).join(', ') || 'it has none'})`,
      );
    }
    return api;
  };

  const resources = new Map<string, { logicalId: string; apiId: string; parentId: string; pathPart: string }>();
  for (const { id, p } of of('AWS::ApiGateway::Resource')) {
    const api = apiOf(id, p);
    const pathPart = String(p.PathPart ?? '');
    if (!/^(\{[A-Za-z0-9._-]+\+?\}|[A-Za-z0-9._~:@!$&'()*,;=-]+)$/.test(pathPart)) {
      throw new TemplateError(`${where(id)} has PathPart '${pathPart}'; a path part is one segment, or {name} or {name+}`);
    }
    resources.set(String(r.ref(id)), { logicalId: id, apiId: api.api.id, parentId: String(p.ParentId), pathPart });
  }

  const methods = new Map<string, LocalApiMethod[]>();
  for (const { id, p } of of('AWS::ApiGateway::Method')) {
    const api = apiOf(id, p);
    const resourceId = String(p.ResourceId);
    if (resourceId !== api.api.rootResourceId && resources.get(resourceId)?.apiId !== api.api.id) {
      throw new TemplateError(`${where(id)} names ResourceId '${resourceId}', which is no resource of REST API ${api.api.logicalId}`);
    }
    const integration = isObject(p.Integration) ? p.Integration : {};
    const type = String(integration.Type ?? 'MOCK');
    const uri = integration.Uri === undefined ? undefined : String(integration.Uri);
    const functionArn = uri ? LAMBDA_URI.exec(uri)?.[1] : undefined;
    const httpMethod = String(p.HttpMethod ?? '').toUpperCase();
    const authorizationType = String(p.AuthorizationType ?? 'NONE').toUpperCase();
    if (type !== 'AWS_PROXY' || !functionArn) {
      notes.push(
        `REST API ${api.api.logicalId}: method ${id} (${httpMethod}) has a ${type} integration${uri ? ` to ${uri}` : ''}; only Lambda proxy (AWS_PROXY) integrations are served locally, requests to it get a 500`,
      );
    }
    if (authorizationType === 'CUSTOM' || authorizationType === 'COGNITO_USER_POOLS') {
      notes.push(
        `REST API ${api.api.logicalId}: method ${id} (${httpMethod}) uses ${authorizationType} authorization, which is not evaluated locally`,
      );
    }
    const list = methods.get(resourceId) ?? [];
    list.push({
      logicalId: id,
      httpMethod,
      authorizationType,
      integration: { type, ...(uri !== undefined ? { uri } : {}), ...(functionArn ? { functionArn } : {}) },
    });
    methods.set(resourceId, list);
  }

  for (const { id, p } of of('AWS::ApiGateway::Stage')) apiOf(id, p).stages.add(String(p.StageName));
  for (const { id, p } of of('AWS::ApiGateway::Deployment')) {
    if (p.StageName !== undefined) apiOf(id, p).stages.add(String(p.StageName));
  }

  const responses = new Map<string, LocalGatewayResponse[]>();
  for (const { id, p } of of('AWS::ApiGateway::GatewayResponse')) {
    const api = apiOf(id, p);
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(isObject(p.ResponseParameters) ? p.ResponseParameters : {})) {
      const header = /^gatewayresponse\.header\.(.+)$/.exec(key)?.[1];
      const text = String(value);
      const literal = /^'(.*)'$/.exec(text);
      if (header && literal) headers[header] = literal[1];
      else
        notes.push(`REST API ${api.api.logicalId}: gateway response ${id} maps ${key} from ${text}; only static 'values' are set locally`);
    }
    const templates = Object.fromEntries(
      Object.entries(isObject(p.ResponseTemplates) ? p.ResponseTemplates : {}).map(([k, v]) => [k, String(v)]),
    );
    const list = responses.get(api.api.id) ?? [];
    list.push({
      logicalId: id,
      responseType: String(p.ResponseType),
      ...(p.StatusCode !== undefined ? { statusCode: Number(p.StatusCode) } : {}),
      templates,
      headers,
    });
    responses.set(api.api.id, list);
  }

  const out: LocalRestApi[] = [];
  for (const { api, stages } of apis.values()) {
    const paths = new Map<string, string>([[api.rootResourceId, '/']]);
    const pathOf = (resourceId: string, seen: readonly string[] = []): string => {
      const known = paths.get(resourceId);
      if (known !== undefined) return known;
      const res = resources.get(resourceId);
      if (!res) throw new Error(`no resource ${resourceId}`); // only own resources and checked parents get here
      if (seen.includes(resourceId)) throw new TemplateError(`${where(res.logicalId)}: its ParentId chain is a cycle`);
      if (res.parentId !== api.rootResourceId && resources.get(res.parentId)?.apiId !== api.id) {
        throw new TemplateError(
          `${where(res.logicalId)} has ParentId '${res.parentId}', which is neither the root of REST API ${api.logicalId} nor one of its resources`,
        );
      }
      const parent = pathOf(res.parentId, [...seen, resourceId]);
      const path = `${parent === '/' ? '' : parent}/${res.pathPart}`;
      paths.set(resourceId, path);
      return path;
    };
    const own = [...resources].filter(([, res]) => res.apiId === api.id);
    out.push({
      ...api,
      resources: [
        { id: api.rootResourceId, pathPart: '', path: '/', methods: methods.get(api.rootResourceId) ?? [] },
        ...own.map(([resourceId, res]) => ({
          id: resourceId,
          logicalId: res.logicalId,
          parentId: res.parentId,
          pathPart: res.pathPart,
          path: pathOf(resourceId),
          methods: methods.get(resourceId) ?? [],
        })),
      ],
      stages: [...stages],
      gatewayResponses: responses.get(api.id) ?? [],
    });
    if (stages.size === 0) notes.push(`REST API ${api.logicalId} has no stage (AWS::ApiGateway::Stage); nothing of it is served`);
  }
  return { apis: out, notes };
}
