/**
 * Reads a cloud assembly (`cdk.out`) for the local runtime: the stack artifacts of its
 * `manifest.json`, the stacks each depends on, and their templates, in the order CloudFormation
 * deploys them (every stack after the stacks it depends on, so the exports a stack imports exist
 * when it is loaded). What the templates mean is not its business: ./intrinsics.ts resolves them,
 * ./template.ts maps their resources to the runtime's model.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** A template or assembly the runtime cannot use: names the path or stack and what is wrong. */
export class TemplateError extends Error {
  public override name = 'TemplateError';
}

export interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  Condition?: string;
}

export interface TemplateOutput {
  Value: unknown;
  Description?: string;
  Export?: { Name: unknown };
  Condition?: string;
}

/** A CloudFormation template, as far as the local runtime reads it. */
export interface Template {
  Description?: string;
  Parameters?: Record<string, { Default?: unknown; Type?: string }>;
  Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  Conditions?: Record<string, unknown>;
  Resources?: Record<string, TemplateResource>;
  Outputs?: Record<string, TemplateOutput>;
}

/** One stack of the assembly with its template. */
export interface AssemblyStack {
  /** The artifact's id in manifest.json (usually the stack name). */
  readonly artifactId: string;
  readonly stackName: string;
  readonly templateFile: string;
  readonly template: Template;
  /** Names of the stacks this one depends on (the manifest's `dependencies` that are stacks). */
  readonly dependencies: readonly string[];
}

export interface Assembly {
  /** Absolute path of the assembly directory. */
  readonly dir: string;
  readonly manifestPath: string;
  /** The stacks to run, in deployment order: each after every stack it depends on. */
  readonly stacks: readonly AssemblyStack[];
}

interface ManifestArtifact {
  type?: string;
  displayName?: string;
  dependencies?: string[];
  properties?: { templateFile?: string; stackName?: string };
}

interface StackArtifact {
  readonly id: string;
  readonly name: string;
  readonly file?: string;
  /** Artifact ids of the stacks it depends on. */
  readonly dependsOn: readonly string[];
}

const STACK_ARTIFACT = 'aws:cloudformation:stack';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readJson<T>(file: string): T {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (error) {
    throw new TemplateError(`malformed cloud assembly: ${file} is not valid JSON (${(error as Error).message})`);
  }
}

/** The manifest's stack artifacts, with their dependencies on other stacks (asset manifests and the like dropped). */
function stackArtifacts(manifestPath: string): StackArtifact[] {
  const manifest = readJson<{ artifacts?: Record<string, ManifestArtifact> }>(manifestPath);
  const artifacts = isObject(manifest?.artifacts) ? (manifest.artifacts as Record<string, ManifestArtifact>) : {};
  const stacks = Object.entries(artifacts)
    .filter(([, a]) => a?.type === STACK_ARTIFACT)
    .map(([id, a]) => ({ id, a }));
  if (stacks.length === 0) {
    const nested = Object.values(artifacts).some((a) => a?.type === 'cdk:cloud-assembly');
    throw new TemplateError(
      `malformed cloud assembly: ${manifestPath} has no CloudFormation stack artifact${
        nested ? ' (stacks inside a Stage live in nested assemblies, which the local runtime does not load)' : ''
      }`,
    );
  }
  return stacks.map(({ id, a }) => {
    const dependsOn = (Array.isArray(a.dependencies) ? a.dependencies : []).filter((dep) => {
      const target = artifacts[dep];
      if (target === undefined) {
        throw new TemplateError(
          `malformed cloud assembly: stack artifact '${id}' in ${manifestPath} depends on '${dep}', which the manifest does not list`,
        );
      }
      return target.type === STACK_ARTIFACT;
    });
    return { id, name: a.properties?.stackName ?? a.displayName ?? id, file: a.properties?.templateFile, dependsOn };
  });
}

/** `wanted` and every stack it depends on, directly or not. */
function withDependencies(wanted: StackArtifact, byId: ReadonlyMap<string, StackArtifact>): Set<string> {
  const selected = new Set<string>();
  const visit = (a: StackArtifact) => {
    if (selected.has(a.id)) return;
    selected.add(a.id);
    for (const dep of a.dependsOn) {
      const d = byId.get(dep);
      if (d) visit(d);
    }
  };
  visit(wanted);
  return selected;
}

/**
 * Deployment order: a stack comes after every stack it depends on; stacks that do not depend
 * on each other keep the manifest's order (so a run is reproducible).
 */
export function deploymentOrder<T extends { readonly id: string; readonly name: string; readonly dependsOn: readonly string[] }>(
  stacks: readonly T[],
  where: string,
): T[] {
  const ordered: T[] = [];
  const placed = new Set<string>();
  const pending = [...stacks];
  const ids = new Set(stacks.map((s) => s.id));
  while (pending.length > 0) {
    const i = pending.findIndex((s) => s.dependsOn.every((d) => placed.has(d) || !ids.has(d)));
    if (i < 0) {
      throw new TemplateError(
        `malformed cloud assembly: the stacks ${pending.map((s) => `'${s.name}'`).join(', ')} in ${where} depend on each other in a cycle; no order deploys them`,
      );
    }
    const [next] = pending.splice(i, 1);
    ordered.push(next);
    placed.add(next.id);
  }
  return ordered;
}

/**
 * Reads the assembly at `cdkOut`: every stack, or, with `stackName` (a stack name or artifact
 * id), that stack and the stacks it depends on; in deployment order, templates parsed. Clear
 * errors for a missing or malformed cdk.out and an unknown stack.
 */
export function readAssembly(cdkOut: string, stackName?: string): Assembly {
  const dir = path.resolve(cdkOut);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TemplateError(`cloud assembly not found: ${dir} does not exist; run 'npx cdk synth' (or 'asynctask dev --synth') first`);
  }
  const manifestPath = path.join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    throw new TemplateError(`malformed cloud assembly: ${manifestPath} does not exist; run 'npx cdk synth' again`);
  }
  const all = stackArtifacts(manifestPath);
  const byId = new Map(all.map((a) => [a.id, a]));
  let chosen = all;
  if (stackName !== undefined) {
    const wanted = all.find((s) => s.name === stackName) ?? byId.get(stackName);
    if (!wanted) {
      throw new TemplateError(`stack '${stackName}' is not in ${manifestPath} (it has: ${all.map((s) => s.name).join(', ')})`);
    }
    const selected = withDependencies(wanted, byId);
    chosen = all.filter((a) => selected.has(a.id));
  }
  const nameOf = (id: string) => byId.get(id)?.name ?? id;
  const stacks = deploymentOrder(chosen, manifestPath).map((a): AssemblyStack => {
    if (!a.file) throw new TemplateError(`malformed cloud assembly: stack '${a.name}' in ${manifestPath} names no templateFile`);
    const templateFile = path.join(dir, a.file);
    if (!existsSync(templateFile)) {
      throw new TemplateError(`malformed cloud assembly: template ${templateFile} (of stack '${a.name}') does not exist`);
    }
    const template = readJson<Template>(templateFile);
    if (!isObject(template) || !isObject(template.Resources)) {
      throw new TemplateError(`malformed cloud assembly: ${templateFile} has no Resources section`);
    }
    return { artifactId: a.id, stackName: a.name, templateFile, template, dependencies: a.dependsOn.map(nameOf) };
  });
  return { dir, manifestPath, stacks };
}
