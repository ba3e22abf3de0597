/**
 * KafkaTaskTrigger: records of Kafka topics (Amazon MSK or a self-managed cluster) become tasks
 * of a task function — FC's Kafka connector in the article's ETL practice. One Lambda event
 * source mapping per topic (a Kafka mapping takes one topic) invokes the trigger Lambda, which
 * creates the tasks exactly once (ids from topic, partition and offset) and reports the records
 * it could not hand over as batch item failures. Where the cluster is and how Lambda
 * authenticates to it is an `IKafkaCluster` (`KafkaCluster.msk(...)`, `KafkaCluster.selfManaged(...)`)
 * that binds each mapping to the trigger Lambda and grants what its mapping needs.
 */
import { createHash } from 'node:crypto';
import { Duration, Fn, Names, Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct, type IConstruct } from 'constructs';
import { checkRange } from '../lambda/model/config';
import { KAFKA_STARTING_POSITIONS, type KafkaStartingPosition, TRIGGER_BOUNDS, type TriggerMode } from '../lambda/model/trigger';
import { acknowledge } from './nag';
import {
  checkOneOf,
  checkSeconds,
  checkTaskTriggerProps,
  createTriggerFunction,
  knownNumber,
  type TaskTriggerProps,
  triggerPropsError,
} from './trigger-base';

/** Kafka topic names: 1–249 of letters, digits, `.`, `_`, `-`, and neither `.` nor `..`. */
export const KAFKA_TOPIC_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/;
/** Lambda's consumer group ids: 1–200 characters of this set. */
export const KAFKA_CONSUMER_GROUP_ID_PATTERN = /^[a-zA-Z0-9\-/*:_+=.@]{1,200}$/;
const CONSUMER_GROUP_ID_MAX_LENGTH = 200;
/** Provisioned event pollers Lambda allows per Kafka mapping. */
export const KAFKA_POLLER_BOUNDS = { minimumPollers: { min: 1, max: 200 }, maximumPollers: { min: 1, max: 2000 } } as const;

/** Problems with a topic name (empty when valid or a token). */
export function checkKafkaTopic(topic: string): string | undefined {
  if (Token.isUnresolved(topic)) return undefined;
  if (!KAFKA_TOPIC_PATTERN.test(topic) || topic === '.' || topic === '..') {
    return `topic ${JSON.stringify(topic)} is not a Kafka topic name: 1-249 characters of letters, digits, '.', '_' or '-', and not '.' or '..'`;
  }
  return undefined;
}

/**
 * The consumer group of a trigger's mapping when none is given: `asynctask-<stack>-<function>-<topic>`,
 * stable across deployments (re-creating the mapping resumes from the group's committed offsets)
 * and different per stack, function and topic. Over 200 characters it is cut to 191 and ends in
 * `-` and 8 hex characters of the full id's SHA-256, so cut ids stay distinct.
 */
export function defaultConsumerGroupId(stackName: string, functionName: string, topic: string): string {
  const id = `asynctask-${stackName}-${functionName}-${topic}`.replace(/[^a-zA-Z0-9\-/*:_+=.@]/g, '-');
  if (id.length <= CONSUMER_GROUP_ID_MAX_LENGTH) return id;
  return `${id.slice(0, CONSUMER_GROUP_ID_MAX_LENGTH - 9)}-${createHash('sha256').update(id).digest('hex').slice(0, 8)}`;
}

/** How Lambda authenticates to the brokers (Lambda's `SourceAccessConfiguration` types). */
export const KafkaAuthenticationMethod = {
  /** MSK only: the trigger's role, granted `kafka-cluster:*` actions by name on the cluster, its topics and groups. */
  IAM: 'IAM',
  /** SASL/SCRAM-512: a Secrets Manager secret with `username` and `password`. */
  SASL_SCRAM_512: 'SASL_SCRAM_512_AUTH',
  /** Self-managed only: SASL/SCRAM-256. */
  SASL_SCRAM_256: 'SASL_SCRAM_256_AUTH',
  /** Self-managed only: SASL/PLAIN. */
  BASIC: 'BASIC_AUTH',
  /** mTLS: a secret with the client certificate chain and private key. */
  MTLS: 'CLIENT_CERTIFICATE_TLS_AUTH',
  /** Self-managed in a VPC only: no authentication. */
  NONE: 'NONE',
} as const;
export type KafkaAuthenticationMethod = (typeof KafkaAuthenticationMethod)[keyof typeof KafkaAuthenticationMethod];

const SECRET_METHODS: readonly KafkaAuthenticationMethod[] = [
  'SASL_SCRAM_512_AUTH',
  'SASL_SCRAM_256_AUTH',
  'BASIC_AUTH',
  'CLIENT_CERTIFICATE_TLS_AUTH',
];

/** One mapping's settings, validated by the trigger. */
export interface KafkaMappingOptions {
  readonly topic: string;
  readonly consumerGroupId: string;
  readonly startingPosition: lambda.StartingPosition;
  /** Unix seconds, with AT_TIMESTAMP. */
  readonly startingPositionTimestamp?: number;
  readonly batchSize: number;
  readonly maxBatchingWindow?: Duration;
  readonly retryAttempts?: number;
  readonly maxRecordAge?: Duration;
  readonly provisionedPollerConfig: lambda.ProvisionedPollerConfig;
}

/** A Kafka cluster a trigger reads from: where it is, how Lambda reaches and authenticates to it. */
export interface IKafkaCluster {
  /** `msk` or `self-managed`, for messages and docs. */
  readonly kind: string;
  /** Where the cluster is, as the registry shows it: the MSK cluster ARN, or the bootstrap servers joined with `,`. */
  readonly address: string;
  /** Problems with the cluster's own props, each "what, the value, what is allowed". */
  validate(): string[];
  /** Adds the event source mapping of one topic to `fn` and grants `fn` what that mapping needs. */
  bind(scope: Construct, fn: lambda.Function, options: KafkaMappingOptions): void;
}

export interface MskClusterProps {
  /** ARN of the MSK cluster (provisioned or serverless), `arn:<partition>:kafka:<region>:<account>:cluster/<name>/<uuid>`. */
  readonly clusterArn: string;
  /**
   * `IAM`, `SASL_SCRAM_512_AUTH` or `CLIENT_CERTIFICATE_TLS_AUTH` (mTLS).
   * @default KafkaAuthenticationMethod.IAM
   */
  readonly authentication?: KafkaAuthenticationMethod;
  /**
   * The SASL/SCRAM or mTLS secret (required with those methods).
   * @default - none
   */
  readonly secret?: secretsmanager.ISecret;
}

export interface SelfManagedKafkaClusterProps {
  /** `host:port` of one or more brokers. */
  readonly bootstrapServers: string[];
  /**
   * `SASL_SCRAM_512_AUTH`, `SASL_SCRAM_256_AUTH`, `BASIC_AUTH`, `CLIENT_CERTIFICATE_TLS_AUTH`, or
   * `NONE` (only in a VPC).
   * @default - `NONE` with a `vpc`, otherwise required
   */
  readonly authentication?: KafkaAuthenticationMethod;
  /**
   * The secret of the authentication method (required except with `NONE`).
   * @default - none
   */
  readonly secret?: secretsmanager.ISecret;
  /**
   * A secret with the root CA certificate of brokers whose certificates a private CA signed.
   * @default - none
   */
  readonly rootCaCertificate?: secretsmanager.ISecret;
  /**
   * The VPC Lambda's pollers reach the brokers from. It needs a NAT gateway or VPC endpoints for
   * Lambda, STS (and Secrets Manager with a secret).
   * @default - the brokers are reached over the internet (then a secret is required)
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Subnets of the pollers, with `vpc`.
   * @default - the VPC's default selection (private subnets when it has some)
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Security group of the pollers, with `vpc`; the brokers must accept it.
   * @default - one is created, all outbound traffic allowed, no inbound
   */
  readonly securityGroup?: ec2.ISecurityGroup;
}

/** The cluster ARN with `cluster/` replaced by `<resource>/`, then `/<name>` (topic and group ARNs for IAM). */
function clusterChildArn(clusterArn: string, resource: 'topic' | 'group', name: string): string {
  if (!Token.isUnresolved(clusterArn)) return `${clusterArn.replace(':cluster/', `:${resource}/`)}/${name}`;
  const parts = Fn.split(':cluster/', clusterArn);
  return Fn.join('', [Fn.select(0, parts), `:${resource}/`, Fn.select(1, parts), `/${name}`]);
}

/** The event source mapping resource CDK made for `source`, bound to `fn` just now. */
function cfnMappingOf(fn: lambda.Function, source: { eventSourceMappingId: string }): lambda.CfnEventSourceMapping {
  const mapping = fn.node.children.find(
    (c): c is lambda.EventSourceMapping => c instanceof lambda.EventSourceMapping && c.eventSourceMappingId === source.eventSourceMappingId,
  );
  if (!mapping) throw new Error(`no event source mapping of ${fn.node.path} has id ${source.eventSourceMappingId}`);
  return mapping.node.defaultChild as lambda.CfnEventSourceMapping;
}

const MSK_CLUSTER_ARN = /^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/[^/]+\/[^/]+$/;

/** An Amazon MSK cluster (`ManagedKafkaEventSource`). */
export class MskCluster implements IKafkaCluster {
  public readonly kind = 'msk';
  public readonly authentication: KafkaAuthenticationMethod;
  private readonly grantedFor = new WeakSet<IConstruct>();

  public constructor(public readonly props: MskClusterProps) {
    this.authentication = props.authentication ?? KafkaAuthenticationMethod.IAM;
  }

  public get address(): string {
    return this.props.clusterArn;
  }

  public validate(): string[] {
    const { clusterArn, secret } = this.props;
    const problems: string[] = [];
    if (!Token.isUnresolved(clusterArn) && !MSK_CLUSTER_ARN.test(clusterArn)) {
      problems.push(
        `clusterArn must be an MSK cluster ARN, arn:<partition>:kafka:<region>:<account>:cluster/<name>/<uuid> (given ${JSON.stringify(clusterArn)})`,
      );
    }
    const allowed: KafkaAuthenticationMethod[] = ['IAM', 'SASL_SCRAM_512_AUTH', 'CLIENT_CERTIFICATE_TLS_AUTH'];
    const method = checkOneOf('authentication (Amazon MSK)', this.authentication, allowed);
    if (method) problems.push(method);
    else if (this.authentication === 'IAM' && secret) problems.push('secret must not be given with IAM authentication (given a secret)');
    else if (this.authentication !== 'IAM' && !secret)
      problems.push(`secret is required with authentication '${this.authentication}' (given none)`);
    return problems;
  }

  public bind(_scope: Construct, fn: lambda.Function, options: KafkaMappingOptions): void {
    const { clusterArn, secret } = this.props;
    const source = new sources.ManagedKafkaEventSource({
      clusterArn,
      // The mapping options are named as the event source's props.
      ...options,
      reportBatchItemFailures: true,
      // ManagedKafkaEventSource knows SASL/SCRAM-512 only; mTLS is set on the mapping below.
      ...(this.authentication === 'SASL_SCRAM_512_AUTH' ? { secret } : {}),
    });
    fn.addEventSource(source);
    if (this.authentication === 'CLIENT_CERTIFICATE_TLS_AUTH' && secret) {
      cfnMappingOf(fn, source).sourceAccessConfigurations = [{ type: 'CLIENT_CERTIFICATE_TLS_AUTH', uri: secret.secretArn }];
      secret.grantRead(fn);
    }
    if (this.authentication === 'IAM') {
      // Lambda's pollers act as the function's role on the cluster, its topic and its group.
      if (!this.grantedFor.has(fn)) {
        this.grantedFor.add(fn);
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
            resources: [clusterArn],
          }),
        );
      }
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
          resources: [clusterChildArn(clusterArn, 'topic', options.topic)],
        }),
      );
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
          resources: [clusterChildArn(clusterArn, 'group', options.consumerGroupId)],
        }),
      );
    }
    acknowledge(fn, {
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaMSKExecutionRole]',
      reason:
        "Added by CDK's ManagedKafkaEventSource: explicit actions only (kafka:DescribeCluster/DescribeClusterV2/GetBootstrapBrokers, the EC2 network-interface actions of the pollers in the cluster's VPC, logs), on * as IAM requires for them",
    });
  }
}

/** A self-managed Kafka cluster (`SelfManagedKafkaEventSource`), over the internet or in a VPC. */
export class SelfManagedKafkaCluster implements IKafkaCluster {
  public readonly kind = 'self-managed';
  public readonly authentication: KafkaAuthenticationMethod | undefined;
  private securityGroup?: ec2.ISecurityGroup;
  private readonly grantedFor = new WeakSet<IConstruct>();

  public constructor(public readonly props: SelfManagedKafkaClusterProps) {
    this.authentication = props.authentication ?? (props.vpc ? KafkaAuthenticationMethod.NONE : undefined);
  }

  public get address(): string {
    const servers = this.props.bootstrapServers;
    return Token.isUnresolved(servers) ? Fn.join(',', servers) : servers.join(',');
  }

  public validate(): string[] {
    const { bootstrapServers, secret, vpc, vpcSubnets, securityGroup } = this.props;
    const problems: string[] = [];
    if (!Token.isUnresolved(bootstrapServers)) {
      if (bootstrapServers.length === 0) problems.push('bootstrapServers must name at least one broker as host:port (given [])');
      for (const server of bootstrapServers) {
        if (Token.isUnresolved(server)) continue;
        const match = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/.exec(server);
        const port = match ? Number(match[2]) : 0;
        if (!match || port < 1 || port > 65535) {
          problems.push(`bootstrapServers entries must be host:port with a port between 1 and 65535 (given ${JSON.stringify(server)})`);
        }
      }
    }
    const allowed: KafkaAuthenticationMethod[] = [...SECRET_METHODS, 'NONE'];
    if (this.authentication === undefined) {
      problems.push(
        'authentication is required for brokers reached over the internet (given none): one of SASL_SCRAM_512_AUTH, SASL_SCRAM_256_AUTH, BASIC_AUTH, CLIENT_CERTIFICATE_TLS_AUTH with its secret, or give a vpc',
      );
    } else {
      const method = checkOneOf('authentication (self-managed Kafka)', this.authentication, allowed);
      if (method) problems.push(method);
      else if (this.authentication === 'NONE' && !vpc)
        problems.push("authentication 'NONE' needs a vpc: Lambda requires a secret for brokers reached over the internet");
      else if (this.authentication === 'NONE' && secret)
        problems.push("secret must not be given with authentication 'NONE' (given a secret)");
      else if (this.authentication !== 'NONE' && !secret)
        problems.push(`secret is required with authentication '${this.authentication}' (given none)`);
    }
    if (!vpc && (vpcSubnets || securityGroup)) problems.push('vpcSubnets and securityGroup need a vpc (given none)');
    return problems;
  }

  public bind(scope: Construct, fn: lambda.Function, options: KafkaMappingOptions): void {
    const { bootstrapServers, secret, vpc, vpcSubnets, rootCaCertificate } = this.props;
    if (vpc && !this.props.securityGroup && !this.securityGroup) {
      this.securityGroup = new ec2.SecurityGroup(scope, 'KafkaPollerSecurityGroup', {
        vpc,
        description: `Kafka pollers (Lambda event source mapping) of ${scope.node.path}: outbound to the brokers`,
        allowAllOutbound: true,
      });
    }
    const authenticationMethod =
      this.authentication && this.authentication !== 'NONE' && this.authentication !== 'IAM'
        ? (this.authentication as sources.AuthenticationMethod)
        : undefined;
    fn.addEventSource(
      new sources.SelfManagedKafkaEventSource({
        bootstrapServers,
        ...options,
        reportBatchItemFailures: true,
        ...(secret && authenticationMethod ? { secret, authenticationMethod } : {}),
        ...(rootCaCertificate ? { rootCACertificate: rootCaCertificate } : {}),
        ...(vpc ? { vpc, vpcSubnets: vpcSubnets ?? {}, securityGroup: this.props.securityGroup ?? this.securityGroup } : {}),
      }),
    );
    rootCaCertificate?.grantRead(fn);
    if (vpc && !this.grantedFor.has(fn)) {
      this.grantedFor.add(fn);
      // What Lambda's pollers need to place their network interfaces in the VPC (the
      // AWSLambdaVPCAccessExecutionRole actions without its logs ones); IAM grants them on * only.
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DeleteNetworkInterface',
            'ec2:DescribeVpcs',
            'ec2:DescribeSubnets',
            'ec2:DescribeSecurityGroups',
          ],
          resources: ['*'],
        }),
      );
    }
  }
}

/** Where a Kafka trigger reads from. */
export class KafkaCluster {
  /** An Amazon MSK cluster, by ARN (IAM authentication unless told otherwise). */
  public static msk(props: MskClusterProps): MskCluster {
    return new MskCluster(props);
  }

  /** A self-managed cluster, by its bootstrap servers. */
  public static selfManaged(props: SelfManagedKafkaClusterProps): SelfManagedKafkaCluster {
    return new SelfManagedKafkaCluster(props);
  }
}

export interface KafkaTaskTriggerProps extends TaskTriggerProps {
  /** The cluster: `KafkaCluster.msk({ clusterArn })` or `KafkaCluster.selfManaged({ bootstrapServers, ... })`. */
  readonly cluster: IKafkaCluster;
  /**
   * Topics to read, one event source mapping each. Whether a topic exists cannot be known at
   * synth: the mapping reports a missing one after deployment (its state), the local runtime at start-up.
   */
  readonly topics: string[];
  /**
   * Consumer group of the mapping (only with one topic). Lambda cannot change it on an existing
   * mapping; a new mapping with the same group resumes from the group's committed offsets.
   * @default - `asynctask-<stack name>-<function name>-<topic>` (see `defaultConsumerGroupId`)
   */
  readonly consumerGroupId?: string;
  /**
   * Where a new consumer group starts: `LATEST`, `TRIM_HORIZON` (earliest) or `AT_TIMESTAMP`.
   * A group with committed offsets resumes from them whatever this says.
   * @default 'LATEST'
   */
  readonly startingPosition?: KafkaStartingPosition;
  /**
   * With `AT_TIMESTAMP` (and only then): the time to start from, not in the future.
   * @default - none
   */
  readonly startingPositionTimestamp?: Date;
  /**
   * Times Lambda retries a batch whose records the trigger could not hand over, -1 (until the
   * record expires in the topic) to 10000.
   * @default -1
   */
  readonly retryAttempts?: number;
  /**
   * Oldest record Lambda still hands to the trigger, 60 s–7 days.
   * @default - no limit
   */
  readonly maxRecordAge?: Duration;
  /**
   * Provisioned event pollers of each mapping, 1–200 (Lambda's error handling controls —
   * partial batch responses, retry attempts, record age — need provisioned mode; billed per
   * event poller unit).
   * @default 1
   */
  readonly minimumPollers?: number;
  /**
   * Most event pollers of each mapping, 1–2000, at least `minimumPollers`.
   * @default 200
   */
  readonly maximumPollers?: number;
}

/** Consumer groups used so far per app: two mappings of one app never share one by default. */
const groupsByApp = new WeakMap<IConstruct, Map<string, string>>();

/**
 * Kafka records become tasks of `taskFunction`: one trigger Lambda, one event source mapping per
 * topic with `ReportBatchItemFailures`. Every prop problem is reported in one `ValidationError`
 * before any resource is made.
 */
export class KafkaTaskTrigger extends Construct {
  /** The trigger Lambda (lambda/handlers/trigger.ts). */
  public readonly function: lambda.Function;
  public readonly mode: TriggerMode;
  public readonly topics: readonly string[];
  /** Consumer group of each topic's mapping. */
  public readonly consumerGroupIds: Readonly<Record<string, string>>;

  public constructor(scope: Construct, id: string, props: KafkaTaskTriggerProps) {
    super(scope, id);
    const b = TRIGGER_BOUNDS;
    const functionName = props.taskFunction.functionName;
    const problems = [...checkTaskTriggerProps(props, b.kafkaBatchSize)];
    const topics = props.topics ?? [];
    if (!Token.isUnresolved(topics)) {
      if (topics.length === 0) problems.push('topics must name at least one topic (given [])');
      for (const topic of topics) {
        const problem = checkKafkaTopic(topic);
        if (problem) problems.push(problem);
      }
      const repeated = topics.filter((t, i) => topics.indexOf(t) !== i);
      if (repeated.length > 0) problems.push(`topics must not repeat a topic (given ${JSON.stringify(topics)})`);
    }
    if (props.consumerGroupId !== undefined) {
      if (topics.length > 1) {
        problems.push(
          `consumerGroupId can only be given with one topic (given ${topics.length} topics): each mapping needs its own group; use one trigger per topic or the default ids`,
        );
      }
      if (!Token.isUnresolved(props.consumerGroupId) && !KAFKA_CONSUMER_GROUP_ID_PATTERN.test(props.consumerGroupId)) {
        problems.push(
          `consumerGroupId must be 1-200 characters of letters, digits and - / * : _ + = . @ (given ${JSON.stringify(props.consumerGroupId)})`,
        );
      }
    }
    const position = props.startingPosition ?? 'LATEST';
    const positionProblem = checkOneOf('startingPosition', position, KAFKA_STARTING_POSITIONS);
    if (positionProblem) problems.push(positionProblem);
    const timestamp = props.startingPositionTimestamp;
    if (position === 'AT_TIMESTAMP' && timestamp === undefined) {
      problems.push("startingPositionTimestamp is required with startingPosition 'AT_TIMESTAMP' (given none)");
    }
    if (position !== 'AT_TIMESTAMP' && timestamp !== undefined) {
      problems.push(
        `startingPositionTimestamp is only allowed with startingPosition 'AT_TIMESTAMP' (given startingPosition '${position}')`,
      );
    }
    if (timestamp !== undefined) {
      const time = timestamp instanceof Date ? timestamp.getTime() : Number.NaN;
      if (!Number.isFinite(time)) problems.push(`startingPositionTimestamp must be a valid Date (given ${String(timestamp)})`);
      else if (time > Date.now()) problems.push(`startingPositionTimestamp must not be in the future (given ${timestamp.toISOString()})`);
    }
    const ranges = [
      checkRange('retryAttempts', knownNumber(props.retryAttempts), b.kafkaRetryAttempts),
      checkSeconds('maxRecordAge', props.maxRecordAge, b.kafkaMaxRecordAgeSeconds),
      checkRange('minimumPollers', knownNumber(props.minimumPollers), KAFKA_POLLER_BOUNDS.minimumPollers),
      checkRange('maximumPollers', knownNumber(props.maximumPollers), KAFKA_POLLER_BOUNDS.maximumPollers),
    ];
    problems.push(...ranges.filter((p): p is string => p !== undefined));
    const minimumPollers = props.minimumPollers ?? 1;
    const maximumPollers = props.maximumPollers ?? 200;
    if (!Token.isUnresolved(minimumPollers) && !Token.isUnresolved(maximumPollers) && minimumPollers > maximumPollers) {
      problems.push(`maximumPollers must be at least minimumPollers (given ${maximumPollers} < ${minimumPollers})`);
    }
    problems.push(...props.cluster.validate());

    // Default consumer groups, and no group shared by two mappings of the app.
    const stack = Stack.of(this);
    const stackName = Token.isUnresolved(stack.stackName) ? Names.uniqueId(stack) : stack.stackName;
    const consumerGroupIds: Record<string, string> = {};
    const used = groupsByApp.get(this.node.root) ?? new Map<string, string>();
    groupsByApp.set(this.node.root, used);
    for (const topic of topics) {
      const group = props.consumerGroupId ?? defaultConsumerGroupId(stackName, functionName, topic);
      consumerGroupIds[topic] = group;
      const other = used.get(group);
      if (other !== undefined && !Token.isUnresolved(group)) {
        problems.push(
          `consumerGroupId '${group}' of topic '${topic}' is already used by ${other}; give this trigger its own consumerGroupId`,
        );
      }
    }
    if (problems.length > 0) throw triggerPropsError(this, 'Kafka', functionName, problems);
    for (const group of Object.values(consumerGroupIds)) used.set(group, this.node.path);

    this.mode = props.mode ?? 'batch';
    this.topics = [...topics];
    this.consumerGroupIds = consumerGroupIds;
    this.function = createTriggerFunction(this, {
      ...props,
      mode: this.mode,
      description: `asynctask trigger: records of Kafka topics ${topics.join(', ')} become tasks of '${functionName}'`.slice(0, 256),
      timeout: props.timeout ?? Duration.minutes(5),
    });
    props.taskFunction.addTrigger({
      type: 'kafka',
      topics: [...topics],
      cluster: props.cluster.address,
      batchSize: props.batchSize ?? b.kafkaBatchSize.default,
      mode: this.mode,
      startingPosition: position,
    });
    for (const topic of topics) {
      props.cluster.bind(this, this.function, {
        topic,
        consumerGroupId: consumerGroupIds[topic],
        startingPosition: lambda.StartingPosition[position],
        startingPositionTimestamp: timestamp ? Math.floor(timestamp.getTime() / 1000) : undefined,
        batchSize: props.batchSize ?? b.kafkaBatchSize.default,
        maxBatchingWindow: props.maxBatchingWindow,
        retryAttempts: props.retryAttempts,
        maxRecordAge: props.maxRecordAge,
        provisionedPollerConfig: { minimumPollers, maximumPollers },
      });
    }
  }
}
