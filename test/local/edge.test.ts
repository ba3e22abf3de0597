import { Edge, type EdgeBackends } from '../../local/edge';
import { LocalSsm } from '../../local/ssm';
import { AwsError } from '../../local/types';

const task = {
  taskArn: 'arn:aws:ecs:us-east-1:000000000000:task/default/abc123',
  clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/default',
  family: 'Fam',
  taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/Fam:1',
  containers: [{ name: 'worker', pid: 1 }],
  createdAt: 0,
};

const backends = (over: Partial<EdgeBackends> = {}): EdgeBackends => ({
  dynamodbPort: 1,
  fauxqsPort: 1,
  logs: { handle: async () => ({}) },
  events: { handle: async () => ({}) },
  ssm: new LocalSsm([]),
  lambda: { invoke: async () => ({ requestId: 'r', payload: null }), find: () => undefined },
  stacks: [{ stackName: 'S', stackId: 'arn:aws:cloudformation:us-east-1:000000000000:stack/S/x', outputs: [] }],
  ecsTask: (id) => (id === 'abc123' ? task : undefined),
  ...over,
});

describe('Edge', () => {
  let edge: Edge;
  let endpoint: string;
  afterEach(() => edge.close());

  test('ECS task metadata endpoint serves TaskARN for local tasks, 404 for others', async () => {
    edge = new Edge();
    endpoint = await edge.listen(0);
    edge.setBackends(backends());
    const r = await fetch(`${endpoint}/_ecs/metadata/abc123/worker/task`);
    expect(await r.json()).toMatchObject({ TaskARN: task.taskArn, Family: 'Fam', Revision: '1', Cluster: task.clusterArn });
    const c = await fetch(`${endpoint}/_ecs/metadata/abc123/worker`);
    expect(await c.json()).toMatchObject({ Name: 'worker', Labels: { 'com.amazonaws.ecs.task-arn': task.taskArn } });
    expect((await fetch(`${endpoint}/_ecs/metadata/nope/worker/task`)).status).toBe(404);
  });

  test('requests that arrive before the backends wait for them; JSON services get AWS-shaped errors', async () => {
    edge = new Edge();
    endpoint = await edge.listen(0);
    const pending = fetch(endpoint, {
      method: 'POST',
      headers: { 'x-amz-target': 'AWSStepFunctions.DescribeExecution', 'content-type': 'application/x-amz-json-1.0' },
      body: '{}',
    });
    edge.setBackends(
      backends({
        stepFunctions: {
          handle: async (op) => {
            throw new AwsError('ExecutionDoesNotExist', `no such execution (${op})`);
          },
        },
      }),
    );
    const r = await pending;
    expect(r.status).toBe(400);
    expect(r.headers.get('x-amzn-errortype')).toBe('ExecutionDoesNotExist');
    expect(await r.json()).toMatchObject({ __type: 'ExecutionDoesNotExist', message: 'no such execution (DescribeExecution)' });
  });

  test('a runtime without Step Functions names what is missing', async () => {
    edge = new Edge();
    endpoint = await edge.listen(0);
    edge.setBackends(backends());
    const r = await fetch(endpoint, { method: 'POST', headers: { 'x-amz-target': 'AWSStepFunctions.StartExecution' }, body: '{}' });
    expect(await r.json()).toMatchObject({ __type: 'UnsupportedOperation' });
  });
});
