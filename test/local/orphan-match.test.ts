/**
 * Orphans of a killed runtime are recognised even when their command was exec'd through a shim
 * (pyenv's `python3` is a bash script that execs the real interpreter, so /proc/<pid>/cmdline is
 * not the argv that was spawned): by `ASYNCTASK_LOCAL_TASK_ARN` in the process environment.
 */
import { spawn } from 'node:child_process';
import { processCommandLine, processHasTaskArn } from '../../local/ecs';

test('a process exec’d through a shell is matched by its task ARN, not by its command line', async () => {
  const taskArn = 'arn:aws:ecs:us-east-1:000000000000:task/c/0123abcd';
  const spawned = ['sh', '-c', 'exec sleep 30'];
  const child = spawn(spawned[0], spawned.slice(1), {
    env: { ...process.env, ASYNCTASK_LOCAL_TASK_ARN: taskArn },
    stdio: 'ignore',
  });
  try {
    const pid = child.pid ?? -1;
    // Wait for the exec: the command line becomes `sleep 30`.
    for (let i = 0; i < 100 && processCommandLine(pid)?.[0] !== 'sleep'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(processCommandLine(pid)).toEqual(['sleep', '30']);
    expect(processCommandLine(pid)?.join('\0')).not.toBe(spawned.join('\0'));
    expect(processHasTaskArn(pid, taskArn)).toBe(true);
    expect(processHasTaskArn(pid, `${taskArn}x`)).toBe(false);
    expect(processHasTaskArn(2 ** 22 + 1, taskArn)).toBe(false);
  } finally {
    child.kill('SIGKILL');
  }
});
