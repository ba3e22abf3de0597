/**
 * Bulk actions of the console, in memory: a dry run's plan (the SDK's `planBulk`) is kept for 15
 * minutes under a random id and can be run once; running it starts the SDK's `runBulk` in the
 * background as a job whose progress the page polls, and which keeps its summary for an hour.
 * A second run of the same plan is refused (409), so each task is acted on at most once per dry
 * run; an expired or unknown plan or job is a 404 that says to make a new dry run.
 */
import { randomBytes } from 'node:crypto';
import { type BulkClient, type BulkPlan, type BulkProgress, type BulkSummary, runBulk } from '../client/bulk';
import { ConsoleError } from './errors';

export const PLAN_TTL_MS = 15 * 60_000;
export const JOB_TTL_MS = 60 * 60_000;
/** Plans kept at once (each may hold thousands of ids); the oldest go first. */
export const MAX_PLANS = 50;

export interface PlanEntry {
  readonly id: string;
  readonly plan: BulkPlan;
  readonly expiresAt: number;
  /** Set when the plan was run: the job's id. */
  jobId?: string;
}

export interface BulkJob {
  readonly id: string;
  readonly planId: string;
  readonly plan: BulkPlan;
  readonly startedAt: number;
  progress: BulkProgress;
  done: boolean;
  summary?: BulkSummary;
  /** What stopped the run (a service failure), with the summary so far in `summary`. */
  error?: { readonly name: string; readonly message: string };
  finishedAt?: number;
}

function newId(): string {
  return randomBytes(12).toString('base64url');
}

export interface BulkJobsOptions {
  readonly client: BulkClient;
  readonly now?: () => number;
  /** @default the SDK's runBulk */
  readonly run?: typeof runBulk;
}

export class BulkJobs {
  private readonly plans = new Map<string, PlanEntry>();
  private readonly jobs = new Map<string, BulkJob>();
  private readonly now: () => number;
  private readonly run: typeof runBulk;

  public constructor(private readonly options: BulkJobsOptions) {
    this.now = options.now ?? Date.now;
    this.run = options.run ?? runBulk;
  }

  public addPlan(plan: BulkPlan): PlanEntry {
    this.prune();
    while (this.plans.size >= MAX_PLANS) {
      const oldest = this.plans.keys().next().value as string;
      this.plans.delete(oldest);
    }
    const entry: PlanEntry = { id: newId(), plan, expiresAt: this.now() + PLAN_TTL_MS };
    this.plans.set(entry.id, entry);
    return entry;
  }

  public plan(id: string): PlanEntry {
    this.prune();
    const entry = this.plans.get(id);
    if (!entry) {
      throw new ConsoleError(
        'BulkPlanNotFound',
        `no dry run '${id}': dry runs are kept for ${PLAN_TTL_MS / 60_000} minutes (and not across a restart of the console); make a new one from the tasks page`,
        404,
      );
    }
    return entry;
  }

  /** Starts the plan's run in the background; a plan runs once. */
  public start(planId: string): BulkJob {
    const entry = this.plan(planId);
    if (entry.jobId !== undefined) {
      throw new ConsoleError(
        'BulkPlanAlreadyRun',
        `dry run '${planId}' was already run (job ${entry.jobId}); each task is acted on at most once per dry run — make a new dry run to act again`,
        409,
      );
    }
    const { plan } = entry;
    const job: BulkJob = {
      id: newId(),
      planId,
      plan,
      startedAt: this.now(),
      progress: { total: plan.taskIds.length, done: 0, succeeded: 0, refused: 0 },
      done: false,
    };
    entry.jobId = job.id;
    this.jobs.set(job.id, job);
    this.run(this.options.client, plan, {
      onProgress: (p) => {
        job.progress = p;
      },
    }).then(
      (summary) => {
        job.summary = summary;
        job.done = true;
        job.finishedAt = this.now();
      },
      (error: unknown) => {
        const e = error instanceof Error ? error : new Error(String(error));
        job.error = { name: e.name, message: e.message };
        const partial = (error as { details?: { summary?: BulkSummary } }).details?.summary;
        if (partial) job.summary = partial;
        job.done = true;
        job.finishedAt = this.now();
      },
    );
    return job;
  }

  public job(id: string): BulkJob {
    this.prune();
    const job = this.jobs.get(id);
    if (!job) {
      throw new ConsoleError(
        'BulkJobNotFound',
        `no bulk job '${id}': finished jobs are kept for ${JOB_TTL_MS / 60_000} minutes (and not across a restart of the console)`,
        404,
      );
    }
    return job;
  }

  private prune(): void {
    const now = this.now();
    for (const [id, entry] of this.plans) if (entry.expiresAt <= now) this.plans.delete(id);
    for (const [id, job] of this.jobs) if (job.done && (job.finishedAt ?? 0) + JOB_TTL_MS <= now) this.jobs.delete(id);
  }
}
