import { createRequire } from 'node:module';
import { evaluateJsonPath, originalJsonPath } from '../../../local/sfn/asl';

const jsonPathPlus = createRequire(require.resolve('aws-local-stepfunctions'))('jsonpath-plus') as { JSONPath: unknown };

const input = {
  task: { taskId: 't-1', functionName: 'echo', n: 3, on: false, none: null, tags: ['a', 'b'], nested: { deep: [{ x: 1 }, { x: 2 }] } },
  empty: '',
  zero: 0,
};

test('aws-local-stepfunctions evaluates JSONPath with evaluateJsonPath (no throw per scalar result)', () => {
  expect(jsonPathPlus.JSONPath).toBe(evaluateJsonPath);
});

test.each([
  '$',
  '$.task.taskId',
  '$.task.n',
  '$.task.on',
  '$.task.none',
  '$.empty',
  '$.zero',
  '$.task.tags',
  '$.task.tags[0]',
  '$.task.nested',
  '$.task.nested.deep[*].x',
  '$.task.nested.deep[?(@.x > 1)]',
  '$..x',
  '$.missing',
  '$.task.missing.deeper',
  "$['task']['functionName']",
])('evaluateJsonPath answers %s as jsonpath-plus does', (path) => {
  const own = originalJsonPath({ path, json: input, wrap: false });
  expect(evaluateJsonPath({ path, json: input, wrap: false })).toEqual(own);
  expect(evaluateJsonPath({ path, json: input })).toEqual(originalJsonPath({ path, json: input }));
});

test('evaluateJsonPath passes other calls to jsonpath-plus: errors, the string form, a callback', () => {
  expect(() => evaluateJsonPath({ path: '$.a' })).toThrow(/You must supply a "json" property/);
  expect(evaluateJsonPath('$.task.taskId', input)).toEqual(['t-1']);
  const seen: unknown[] = [];
  evaluateJsonPath({ path: '$.task.tags[*]', json: input, callback: (v: unknown) => seen.push(v) });
  expect(seen).toEqual(['a', 'b']);
});
