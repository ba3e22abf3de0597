/** The caller recorded on the events a request writes (lambda/model/audit.ts). */
import { ANONYMOUS_CALLER, callerOfIdentity, callerOfSource, DIRECT_INVOKE_CALLER } from '../../../lambda/model';

const USER_ARN = 'arn:aws:iam::123456789012:user/video-team';

describe('callerOfIdentity', () => {
  test('is the IAM principal ARN', () => {
    expect(callerOfIdentity({ userArn: USER_ARN, caller: 'AIDAEXAMPLE', accessKey: 'AKIAEXAMPLE', sourceIp: '10.0.0.1' })).toBe(USER_ARN);
  });

  test('falls back to the principal id, then the access key', () => {
    expect(callerOfIdentity({ userArn: null, caller: 'AROAEXAMPLE:session', accessKey: 'ASIAEXAMPLE' })).toBe('AROAEXAMPLE:session');
    expect(callerOfIdentity({ userArn: '', caller: null, accessKey: 'ASIAEXAMPLE' })).toBe('ASIAEXAMPLE');
  });

  test('is anonymous, with the source IP when known, when no principal is named', () => {
    expect(callerOfIdentity({ userArn: null, caller: null, accessKey: null, sourceIp: '127.0.0.1' })).toBe('anonymous@127.0.0.1');
    expect(callerOfIdentity(null)).toBe(ANONYMOUS_CALLER);
    expect(callerOfIdentity(undefined)).toBe('anonymous');
  });

  test('a direct invoke is lambda:Invoke', () => {
    expect(DIRECT_INVOKE_CALLER).toBe('lambda:Invoke');
  });
});

describe('callerOfSource', () => {
  test('a Kafka task: the topic partition and its offsets', () => {
    expect(callerOfSource({ type: 'kafka', topic: 'orders', partition: 3, firstOffset: 100, lastOffset: 199, cluster: 'b-1:9092' })).toBe(
      'kafka:orders/3@100-199',
    );
  });

  test('an SQS task: the queue ARN', () => {
    const queue = 'arn:aws:sqs:us-east-1:123456789012:orders-in';
    expect(callerOfSource({ type: 'sqs', queue, messageIds: ['m1', 'm2'] })).toBe(`sqs:${queue}`);
  });
});
