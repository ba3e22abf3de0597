/**
 * cdk-nag 3 acknowledgements. cdk-nag 3 matches each finding by its exact id, so wildcard
 * resources (`AwsSolutions-IAM5[Resource::...]`) are acknowledged by an aspect that computes
 * the findings of every IAM policy under a scope with cdk-nag's own rule, once all grants are
 * in. Wildcard ACTIONS are never acknowledged: the stack grants explicit actions only.
 */
import { Aspects, CfnResource, type IAspect, Validations } from 'aws-cdk-lib';
import { rules } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/** One acknowledgement: the rule (or finding) id and why it does not apply. */
export interface NagAcknowledgement {
  readonly id: string;
  readonly reason: string;
}

/** Acknowledges rules on a construct and its children, each with its reason. */
export function acknowledge(scope: IConstruct, ...acks: NagAcknowledgement[]): void {
  Validations.of(scope).acknowledge(...acks);
}

/** The IAM4 finding of the basic Lambda execution role. */
export const LAMBDA_BASIC_EXECUTION_ROLE_FINDING =
  'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]';

class AcknowledgeWildcardResources implements IAspect {
  public constructor(private readonly reason: string) {}

  public visit(node: IConstruct): void {
    if (!CfnResource.isCfnResource(node)) return;
    const type = node.cfnResourceType;
    if (type !== 'AWS::IAM::Policy' && type !== 'AWS::IAM::Role' && type !== 'AWS::IAM::ManagedPolicy') return;
    const findings = rules.iam.IAMNoWildcardPermissions(node);
    if (!Array.isArray(findings)) return;
    for (const finding of findings) {
      if (!finding.startsWith('Resource::')) continue;
      Validations.of(node).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason: `${this.reason} (${finding})` });
    }
  }
}

/**
 * Acknowledges the wildcard RESOURCES (never actions) of the IAM policies under `scope`, with
 * `reason`; run at synth, after every grant.
 */
export function acknowledgeWildcardResources(scope: IConstruct, reason: string): void {
  Aspects.of(scope).add(new AcknowledgeWildcardResources(reason));
}
