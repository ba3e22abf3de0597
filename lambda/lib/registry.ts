/**
 * The task function registry as the service's Lambdas read it: every descriptor under the
 * service's SSM path, read once per container and kept for REGISTRY_CACHE_MS; a name that is not
 * in the cache reloads it (at most once per REGISTRY_MISS_RELOAD_MS), so a function deployed
 * from another stack after the container warmed up is found on its first call.
 */
import { GetParametersByPathCommand, type Parameter, type SSMClient } from '@aws-sdk/client-ssm';
import { InvalidArgumentError, parseDescriptor, ServiceError, type TaskFunctionDescriptor, TaskFunctionNotFoundError } from '../model';

/** How long a loaded registry is used before it is read again. */
export const REGISTRY_CACHE_MS = 60_000;
/** Least time between two reloads caused by unknown names (a typo must not hammer SSM). */
export const REGISTRY_MISS_RELOAD_MS = 5_000;

/** What the handlers ask of the registry. */
export interface TaskFunctionRegistry {
  /** Where the registry is kept (named in errors). */
  readonly location: string;
  /** The descriptor of a registered function; InvalidArgument or TaskFunctionNotFound naming the known ones. */
  get(functionName: unknown): Promise<TaskFunctionDescriptor>;
  /** The descriptor, or undefined when no function has that name. */
  find(functionName: string): Promise<TaskFunctionDescriptor | undefined>;
  /** Every registered function, by name. */
  list(): Promise<readonly TaskFunctionDescriptor[]>;
}

/** Shared by the SSM registry and the in-memory one: the lookups over a loaded list. */
abstract class LoadedRegistry implements TaskFunctionRegistry {
  public abstract readonly location: string;

  public async get(functionName: unknown): Promise<TaskFunctionDescriptor> {
    if (typeof functionName !== 'string' || functionName === '') {
      const known = (await this.list()).map((d) => d.name);
      throw new InvalidArgumentError(
        `functionName is required and must be a non-empty string (given ${JSON.stringify(functionName) ?? 'nothing'}); known functions: ${known.join(', ') || '(none)'}`,
      );
    }
    const descriptor = await this.find(functionName);
    if (descriptor) return descriptor;
    const known = (await this.list()).map((d) => d.name);
    throw new TaskFunctionNotFoundError(
      `task function '${functionName}' not found in the registry ${this.location}; known functions: ${known.length > 0 ? known.join(', ') : '(none)'}`,
      { details: { functionName, known } },
    );
  }

  public abstract find(functionName: string): Promise<TaskFunctionDescriptor | undefined>;
  public abstract list(): Promise<readonly TaskFunctionDescriptor[]>;
}

/** A fixed list (tests, tools). */
export class StaticRegistry extends LoadedRegistry {
  public readonly location = '(in memory)';
  private readonly byName: ReadonlyMap<string, TaskFunctionDescriptor>;

  public constructor(descriptors: readonly TaskFunctionDescriptor[]) {
    super();
    this.byName = new Map(descriptors.map((d) => [d.name, d]));
  }

  public async find(functionName: string): Promise<TaskFunctionDescriptor | undefined> {
    return this.byName.get(functionName);
  }

  public async list(): Promise<readonly TaskFunctionDescriptor[]> {
    return [...this.byName.values()];
  }
}

/** The descriptors under one SSM path, cached. */
export class SsmRegistry extends LoadedRegistry {
  public readonly location: string;
  private loaded?: { at: number; byName: ReadonlyMap<string, TaskFunctionDescriptor> };
  private loading?: Promise<ReadonlyMap<string, TaskFunctionDescriptor>>;
  private lastMissReload = 0;

  public constructor(
    private readonly path: string,
    private readonly ssm: () => SSMClient,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.location = `SSM path '${path}'`;
  }

  public async find(functionName: string): Promise<TaskFunctionDescriptor | undefined> {
    let byName = await this.current();
    if (!byName.has(functionName) && this.now() - this.lastMissReload >= REGISTRY_MISS_RELOAD_MS) {
      this.lastMissReload = this.now();
      byName = await this.reload();
    }
    return byName.get(functionName);
  }

  public async list(): Promise<readonly TaskFunctionDescriptor[]> {
    return [...(await this.current()).values()];
  }

  private current(): Promise<ReadonlyMap<string, TaskFunctionDescriptor>> {
    if (this.loaded && this.now() - this.loaded.at < REGISTRY_CACHE_MS) return Promise.resolve(this.loaded.byName);
    return this.reload();
  }

  private reload(): Promise<ReadonlyMap<string, TaskFunctionDescriptor>> {
    this.loading ??= this.read().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async read(): Promise<ReadonlyMap<string, TaskFunctionDescriptor>> {
    const parameters: Parameter[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const page = await this.ssm().send(
          new GetParametersByPathCommand({ Path: this.path, Recursive: false, MaxResults: 10, NextToken: nextToken }),
        );
        parameters.push(...(page.Parameters ?? []));
        nextToken = page.NextToken;
      } while (nextToken);
    } catch (error) {
      throw new ServiceError(
        `the task function registry (${this.location}) could not be read: ${(error as Error).name}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const byName = new Map<string, TaskFunctionDescriptor>();
    for (const parameter of parameters) {
      let descriptor: TaskFunctionDescriptor;
      try {
        descriptor = parseDescriptor(parameter.Value, parameter.Name ?? '(unnamed)');
      } catch (error) {
        throw new ServiceError(`the task function registry (${this.location}) is damaged: ${(error as Error).message}`, {
          cause: error,
        });
      }
      byName.set(descriptor.name, descriptor);
    }
    this.loaded = { at: this.now(), byName };
    return byName;
  }
}
