/**
 * A small hand-written stack with an API Gateway REST API, shaped as CDK's `RestApi` +
 * `LambdaIntegration` synthesize it (same resource types, properties and intrinsics: the stage URL
 * output, `Fn::GetAtt RootResourceId` parents, AWS_PROXY Uris joined around the function's ARN,
 * `'…'`-quoted gateway response headers), plus what CDK would emit for a greedy `{proxy+}` with
 * `ANY` and an unauthenticated method. The routes are not the TaskApi's on purpose: the local API
 * Gateway must serve whatever the template says.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const STACK = 'RestFixture';
export const API = 'RestApi0C43BF4B';
export const FUNCTION = 'Handler886CB40B';

const ref = (id: string) => ({ Ref: id });
const parent = (id: string) => ({ ParentId: ref(id), RestApiId: ref(API) });
const root = { ParentId: { 'Fn::GetAtt': [API, 'RootResourceId'] }, RestApiId: ref(API) };
const proxy = {
  IntegrationHttpMethod: 'POST',
  Type: 'AWS_PROXY',
  Uri: {
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        ':apigateway:',
        { Ref: 'AWS::Region' },
        ':lambda:path/2015-03-31/functions/',
        { 'Fn::GetAtt': [FUNCTION, 'Arn'] },
        '/invocations',
      ],
    ],
  },
};

function method(httpMethod: string, resourceId: unknown, authorizationType = 'AWS_IAM', integration: unknown = proxy) {
  return {
    Type: 'AWS::ApiGateway::Method',
    Properties: {
      AuthorizationType: authorizationType,
      HttpMethod: httpMethod,
      Integration: integration,
      ResourceId: resourceId,
      RestApiId: ref(API),
    },
  };
}

/** The typed error body the gateway responses answer with (`$context` variables filled in per response). */
export const TYPED_TEMPLATE =
  '{"ok":false,"error":{"name":"AccessDenied","message":$context.error.messageString,"request":"$context.httpMethod $context.path","resource":"$context.resourcePath"}}';

export function restApiTemplate(options: { gatewayResponses?: boolean } = {}): Record<string, unknown> {
  const responses =
    options.gatewayResponses === false
      ? {}
      : {
          RestApiMissingAuth5D2A1F3C: {
            Type: 'AWS::ApiGateway::GatewayResponse',
            Properties: {
              ResponseParameters: { 'gatewayresponse.header.Access-Control-Allow-Origin': "'*'" },
              ResponseTemplates: { 'application/json': TYPED_TEMPLATE },
              ResponseType: 'MISSING_AUTHENTICATION_TOKEN',
              RestApiId: ref(API),
              StatusCode: '403',
            },
          },
          RestApiBadSignature8E0B2C11: {
            Type: 'AWS::ApiGateway::GatewayResponse',
            Properties: {
              ResponseTemplates: { 'application/json': TYPED_TEMPLATE },
              ResponseType: 'INVALID_SIGNATURE',
              RestApiId: ref(API),
              StatusCode: '403',
            },
          },
          RestApiDefault5xx0F7E9A21: {
            Type: 'AWS::ApiGateway::GatewayResponse',
            Properties: {
              ResponseTemplates: {
                'application/json': '{"ok":false,"error":{"name":"ServiceError","message":$context.error.messageString}}',
              },
              ResponseType: 'DEFAULT_5XX',
              RestApiId: ref(API),
            },
          },
        };
  return {
    Resources: {
      HandlerServiceRole: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: {} } },
      [FUNCTION]: {
        Type: 'AWS::Lambda::Function',
        Properties: {
          Code: { ZipFile: 'exports.handler = async (event) => ({ statusCode: 200, body: JSON.stringify(event) });' },
          Handler: 'index.handler',
          Role: { 'Fn::GetAtt': ['HandlerServiceRole', 'Arn'] },
          Runtime: 'nodejs22.x',
        },
      },
      [API]: { Type: 'AWS::ApiGateway::RestApi', Properties: { Name: 'TaskApi', Description: 'hand-written, CDK-shaped' } },
      RestApiCloudWatchAccount: { Type: 'AWS::ApiGateway::Account', Properties: { CloudWatchRoleArn: 'x' } },
      RestApiDeployment8A2F3B5C9d1e: {
        Type: 'AWS::ApiGateway::Deployment',
        Properties: { Description: 'Automatically created by the RestApi construct', RestApiId: ref(API) },
        DependsOn: ['RestApifunctionsGET1A2B3C4D'],
      },
      RestApiDeploymentStagev1E8F2D3A4: {
        Type: 'AWS::ApiGateway::Stage',
        Properties: { DeploymentId: ref('RestApiDeployment8A2F3B5C9d1e'), RestApiId: ref(API), StageName: 'v1' },
      },
      RestApifunctions5A6B7C8D: { Type: 'AWS::ApiGateway::Resource', Properties: { ...root, PathPart: 'functions' } },
      RestApifunctionsGET1A2B3C4D: method('GET', ref('RestApifunctions5A6B7C8D')),
      RestApifunctionsreserved11AA22BB: {
        Type: 'AWS::ApiGateway::Resource',
        Properties: { ...parent('RestApifunctions5A6B7C8D'), PathPart: 'reserved' },
      },
      RestApifunctionsreservedGET33CC44DD: method('GET', ref('RestApifunctionsreserved11AA22BB'), 'NONE'),
      RestApifunctionsfunctionName9E8D7C6B: {
        Type: 'AWS::ApiGateway::Resource',
        Properties: { ...parent('RestApifunctions5A6B7C8D'), PathPart: '{functionName}' },
      },
      RestApifunctionsfunctionNametasks0F1E2D3C: {
        Type: 'AWS::ApiGateway::Resource',
        Properties: { ...parent('RestApifunctionsfunctionName9E8D7C6B'), PathPart: 'tasks' },
      },
      RestApifunctionsfunctionNametasksGET4B5A6978: method('GET', ref('RestApifunctionsfunctionNametasks0F1E2D3C')),
      RestApifunctionsfunctionNametasksPOST8C9D0E1F: method('POST', ref('RestApifunctionsfunctionNametasks0F1E2D3C')),
      RestApifunctionsfunctionNametaskstaskId2A3B4C5D: {
        Type: 'AWS::ApiGateway::Resource',
        Properties: { ...parent('RestApifunctionsfunctionNametasks0F1E2D3C'), PathPart: '{taskId}' },
      },
      RestApifunctionsfunctionNametaskstaskIdGET6E7F8091: method('GET', ref('RestApifunctionsfunctionNametaskstaskId2A3B4C5D')),
      RestApifunctionsfunctionNametaskstaskIdstopA1B2C3D4: {
        Type: 'AWS::ApiGateway::Resource',
        Properties: { ...parent('RestApifunctionsfunctionNametaskstaskId2A3B4C5D'), PathPart: 'stop' },
      },
      RestApifunctionsfunctionNametaskstaskIdstopPOSTE5F60718: method('POST', ref('RestApifunctionsfunctionNametaskstaskIdstopA1B2C3D4')),
      RestApifiles7788AABB: { Type: 'AWS::ApiGateway::Resource', Properties: { ...root, PathPart: 'files' } },
      RestApifilesproxy99CCDDEE: {
        Type: 'AWS::ApiGateway::Resource',
        Properties: { ...parent('RestApifiles7788AABB'), PathPart: '{proxy+}' },
      },
      RestApifilesproxyANY0011EEFF: method('ANY', ref('RestApifilesproxy99CCDDEE'), 'NONE'),
      RestApimock5566BBCC: { Type: 'AWS::ApiGateway::Resource', Properties: { ...root, PathPart: 'mock' } },
      RestApimockGET7788CCDD: method('GET', ref('RestApimock5566BBCC'), 'NONE', {
        Type: 'MOCK',
        RequestTemplates: { 'application/json': '{"statusCode": 200}' },
      }),
      RestApifunctionsGETApiPermissionRestFixture: {
        Type: 'AWS::Lambda::Permission',
        Properties: {
          Action: 'lambda:InvokeFunction',
          FunctionName: { 'Fn::GetAtt': [FUNCTION, 'Arn'] },
          Principal: 'apigateway.amazonaws.com',
          SourceArn: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':execute-api:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                ':',
                ref(API),
                '/',
                ref('RestApiDeploymentStagev1E8F2D3A4'),
                '/GET/functions',
              ],
            ],
          },
        },
      },
      ...responses,
    },
    Outputs: {
      RestApiEndpoint0551178A: {
        Value: {
          'Fn::Join': [
            '',
            [
              'https://',
              ref(API),
              '.execute-api.',
              { Ref: 'AWS::Region' },
              '.',
              { Ref: 'AWS::URLSuffix' },
              '/',
              ref('RestApiDeploymentStagev1E8F2D3A4'),
              '/',
            ],
          ],
        },
      },
      TaskApiUrl: {
        Value: {
          'Fn::Join': [
            '',
            [
              'https://',
              ref(API),
              '.execute-api.',
              { Ref: 'AWS::Region' },
              '.',
              { Ref: 'AWS::URLSuffix' },
              '/',
              ref('RestApiDeploymentStagev1E8F2D3A4'),
              '/',
            ],
          ],
        },
      },
    },
  };
}

/** Writes the stack as a one-stack cloud assembly (manifest.json + template) into a new temp dir. */
export function writeRestApiAssembly(template: Record<string, unknown> = restApiTemplate()): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'asynctask-restapi-'));
  writeFileSync(path.join(dir, `${STACK}.template.json`), JSON.stringify(template));
  writeFileSync(
    path.join(dir, 'manifest.json'),
    JSON.stringify({
      version: '55.0.0',
      artifacts: {
        [STACK]: { type: 'aws:cloudformation:stack', properties: { templateFile: `${STACK}.template.json` }, displayName: STACK },
      },
    }),
  );
  return dir;
}
