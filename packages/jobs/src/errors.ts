/**
 * `JobsError`: what the jobs API refuses, with the reason and the thing it names (a queue, a job id, a job
 * type, a cron expression). The machine's refusals arrive as `ApplicationError`s and are given this form.
 */
import { FlotillaError } from '@flotilla/app';

export type JobsErrorReason =
  | 'unknown-queue'
  | 'unknown-job'
  | 'unknown-job-type'
  | 'payload-too-large'
  | 'invalid-cron'
  | 'invalid-option'
  | 'not-cancellable'
  | 'not-retryable'
  | 'wrong-partition'
  | 'wrong-group'
  | 'timeout'
  | (string & {});

export class JobsError extends FlotillaError {
  constructor(
    readonly reason: JobsErrorReason,
    /** The queue, job id, job type or expression concerned. */
    readonly subject: string,
    detail: string,
  ) {
    super('FLOTILLA_JOBS', detail);
  }
}
