/** Consumer-group calls on a real cluster are retried while the broker says it cannot answer yet. */
import { whileRetriable } from '../../local/kafka/cluster';

const retriable = (message: string) => Object.assign(new Error(message), { retriable: true });

test('a call failing with retriable errors (the coordinator still loading) is made again until it answers', async () => {
  let calls = 0;
  const result = await whileRetriable('reading the committed offsets of consumer group g', async () => {
    calls++;
    if (calls < 3) throw retriable("The coordinator is loading and hence can't process requests for this group");
    return 'offsets';
  });
  expect({ result, calls }).toEqual({ result: 'offsets', calls: 3 });
});

test('fails at once on an error that is not retriable, naming what it was doing', async () => {
  let calls = 0;
  await expect(
    whileRetriable('setting the starting offsets of consumer group g', async () => {
      calls++;
      throw new Error('Not authorized to access group: g');
    }),
  ).rejects.toThrow('setting the starting offsets of consumer group g failed: Not authorized to access group: g');
  expect(calls).toBe(1);
});
