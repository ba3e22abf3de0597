/** The task function registry as the service's Lambdas read it from SSM: paging, caching, errors. */
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { REGISTRY_CACHE_MS, REGISTRY_MISS_RELOAD_MS, SsmRegistry, StaticRegistry } from '../../../lambda/lib/registry';
import { registryPath, type TaskFunctionDescriptor } from '../../../lambda/model';
import { ETL, PLAIN, TRANSCODE } from './fixtures';

const ssm = mockClient(SSMClient);
const PATH = registryPath('svc');
const param = (d: TaskFunctionDescriptor) => ({ Name: `${PATH}${d.name}`, Type: 'String' as const, Value: JSON.stringify(d) });

function registry(clock: { now: number }) {
  const client = new SSMClient({ region: 'us-east-1' });
  return new SsmRegistry(
    PATH,
    () => client,
    () => clock.now,
  );
}

beforeEach(() => ssm.reset());

test('reads every page of the path once and serves lookups from the cache', async () => {
  const many = Array.from({ length: 25 }, (_, i) => ({ ...PLAIN, name: `fn${i}` }));
  ssm
    .on(GetParametersByPathCommand)
    .resolvesOnce({ Parameters: many.slice(0, 10).map(param), NextToken: 't1' })
    .resolvesOnce({ Parameters: many.slice(10, 20).map(param), NextToken: 't2' })
    .resolvesOnce({ Parameters: many.slice(20).map(param) });
  const clock = { now: 1_000_000 };
  const r = registry(clock);
  expect((await r.list()).map((d) => d.name)).toEqual(many.map((d) => d.name));
  expect((await r.get('fn24')).name).toBe('fn24');
  expect(ssm).toHaveReceivedCommandTimes(GetParametersByPathCommand, 3);
  expect(ssm).toHaveReceivedNthCommandWith(2, GetParametersByPathCommand, { Path: PATH, NextToken: 't1', MaxResults: 10 });
});

test('an unknown name reloads (at most every few seconds), so a newly deployed function is found', async () => {
  ssm
    .on(GetParametersByPathCommand)
    .resolvesOnce({ Parameters: [param(ETL)] })
    .resolves({ Parameters: [param(ETL), param(TRANSCODE)] });
  const clock = { now: 1_000_000 };
  const r = registry(clock);
  expect(await r.find('etl')).toBeDefined();
  clock.now += REGISTRY_MISS_RELOAD_MS;
  expect((await r.get('transcode')).kind).toBe('container');
  expect(ssm).toHaveReceivedCommandTimes(GetParametersByPathCommand, 2);
  // A second unknown name right after does not read again.
  expect(await r.find('nope')).toBeUndefined();
  expect(ssm).toHaveReceivedCommandTimes(GetParametersByPathCommand, 2);
  // The cache expires.
  clock.now += REGISTRY_CACHE_MS;
  await r.list();
  expect(ssm).toHaveReceivedCommandTimes(GetParametersByPathCommand, 3);
});

test('fails if SSM cannot be read, naming the path and the error (never an empty list)', async () => {
  const denied = Object.assign(new Error('not authorized to perform ssm:GetParametersByPath'), { name: 'AccessDeniedException' });
  ssm.on(GetParametersByPathCommand).rejects(denied);
  const r = registry({ now: 0 });
  await expect(r.list()).rejects.toMatchObject({
    name: 'ServiceError',
    message: `the task function registry (SSM path '${PATH}') could not be read: AccessDeniedException: not authorized to perform ssm:GetParametersByPath`,
  });
});

test('fails if a parameter is not a descriptor, naming the parameter', async () => {
  ssm.on(GetParametersByPathCommand).resolves({
    Parameters: [param(ETL), { Name: `${PATH}broken`, Type: 'String', Value: '{"name":"broken"}' }],
  });
  await expect(registry({ now: 0 }).get('etl')).rejects.toThrow(
    `the task function registry (SSM path '${PATH}') is damaged: registry parameter '${PATH}broken' is not a task function descriptor (missing kind, stateMachineArn, runnerArn)`,
  );
});

test('fails if the name is not a string, naming the known functions', async () => {
  await expect(new StaticRegistry([ETL, PLAIN]).get(undefined)).rejects.toMatchObject({
    name: 'InvalidArgument',
    message: 'functionName is required and must be a non-empty string (given nothing); known functions: etl, plain',
  });
});
