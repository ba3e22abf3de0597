import { LocalSsm } from '../../local/ssm';

const param = (name: string, value = `v-${name}`) => ({ logicalId: name.replace(/\W/g, ''), name, type: 'String', value });

describe('LocalSsm', () => {
  const ssm = new LocalSsm([
    ...Array.from({ length: 23 }, (_, i) => param(`/asynctask/svc/functions/fn${String(i).padStart(2, '0')}`)),
    param('/asynctask/svc/functions/nested/deep'),
    param('/asynctask/other/functions/x'),
  ]);

  test('GetParametersByPath pages 10 at a time, in name order, one level unless Recursive', async () => {
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = (await ssm.handle('GetParametersByPath', { Path: '/asynctask/svc/functions/', NextToken: token })) as {
        Parameters: { Name: string }[];
        NextToken?: string;
      };
      expect(page.Parameters.length).toBeLessThanOrEqual(10);
      names.push(...page.Parameters.map((p) => p.Name));
      token = page.NextToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(names).toHaveLength(23);
    expect(names[0]).toBe('/asynctask/svc/functions/fn00');
    expect(names).not.toContain('/asynctask/svc/functions/nested/deep');
    const recursive = (await ssm.handle('GetParametersByPath', { Path: '/asynctask/svc/functions', Recursive: true, MaxResults: 10 })) as {
      NextToken?: string;
    };
    expect(recursive.NextToken).toBe('10');
  });

  test('GetParameter returns the value; fails if the parameter does not exist, naming it', async () => {
    await expect(ssm.handle('GetParameter', { Name: '/asynctask/other/functions/x' })).resolves.toMatchObject({
      Parameter: { Value: 'v-/asynctask/other/functions/x', Type: 'String' },
    });
    await expect(ssm.handle('GetParameter', { Name: '/nope' })).rejects.toThrow("parameter '/nope' does not exist");
  });

  test('fails if MaxResults is out of range, naming the value and the range', async () => {
    await expect(ssm.handle('GetParametersByPath', { Path: '/asynctask/', MaxResults: 11 })).rejects.toThrow(
      'MaxResults must be between 1 and 10 (given 11)',
    );
  });
});
