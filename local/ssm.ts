/**
 * SSM Parameter Store for the local runtime: the `AWS::SSM::Parameter`s of the loaded templates,
 * read-only, through GetParameter, GetParameters and GetParametersByPath (the task function
 * registry is read with the last). Paging follows SSM: at most 10 results a page.
 */
import type { LocalParameter } from './template';
import { AwsError, type JsonService, LOCAL_ACCOUNT, LOCAL_REGION } from './types';

const MAX_RESULTS = 10;

interface ParameterView {
  Name: string;
  Type: string;
  Value: string;
  Version: number;
  ARN: string;
  DataType: 'text';
}

export class LocalSsm implements JsonService {
  private readonly byName: ReadonlyMap<string, LocalParameter>;

  public constructor(parameters: readonly LocalParameter[]) {
    this.byName = new Map(parameters.map((p) => [p.name, p]));
  }

  public async handle(operation: string, body: Record<string, unknown>): Promise<unknown> {
    switch (operation) {
      case 'GetParameter': {
        const name = String(body.Name ?? '');
        const parameter = this.byName.get(name);
        if (!parameter) throw new AwsError('ParameterNotFound', `parameter '${name}' does not exist in the local stacks`);
        return { Parameter: view(parameter) };
      }
      case 'GetParameters': {
        const names = Array.isArray(body.Names) ? body.Names.map(String) : [];
        return {
          Parameters: names.flatMap((n) => {
            const p = this.byName.get(n);
            return p ? [view(p)] : [];
          }),
          InvalidParameters: names.filter((n) => !this.byName.has(n)),
        };
      }
      case 'GetParametersByPath':
        return this.byPath(body);
      default:
        throw new AwsError(
          'UnsupportedOperation',
          `the local runtime serves SSM GetParameter, GetParameters and GetParametersByPath only (given ${operation})`,
        );
    }
  }

  private byPath(body: Record<string, unknown>): unknown {
    const path = String(body.Path ?? '');
    if (!path.startsWith('/')) throw new AwsError('ValidationException', `Path must start with '/' (given '${path}')`);
    const maxResults = body.MaxResults === undefined ? MAX_RESULTS : Number(body.MaxResults);
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > MAX_RESULTS) {
      throw new AwsError('ValidationException', `MaxResults must be between 1 and ${MAX_RESULTS} (given ${String(body.MaxResults)})`);
    }
    const prefix = path.endsWith('/') ? path : `${path}/`;
    const recursive = body.Recursive === true;
    const matching = [...this.byName.values()]
      .filter((p) => p.name.startsWith(prefix) && (recursive || !p.name.slice(prefix.length).includes('/')))
      .sort((a, b) => a.name.localeCompare(b.name));
    const start = body.NextToken === undefined ? 0 : Number(body.NextToken);
    if (!Number.isInteger(start) || start < 0 || start > matching.length) {
      throw new AwsError('ValidationException', `NextToken is not one this endpoint gave (given '${String(body.NextToken)}')`);
    }
    const page = matching.slice(start, start + maxResults);
    const next = start + page.length;
    return { Parameters: page.map(view), ...(next < matching.length ? { NextToken: String(next) } : {}) };
  }
}

function view(p: LocalParameter): ParameterView {
  return {
    Name: p.name,
    Type: p.type,
    Value: p.value,
    Version: 1,
    ARN: `arn:aws:ssm:${LOCAL_REGION}:${LOCAL_ACCOUNT}:parameter${p.name.startsWith('/') ? '' : '/'}${p.name}`,
    DataType: 'text',
  };
}
