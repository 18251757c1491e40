/**
 * At most one training per dataset on AWS: a lock item in the index table (pk = L#<dataset>,
 * sk = training) taken by a conditional put before the Batch job is submitted, naming the job once
 * Batch gave it an id, and deleted by the trainer when it ends. A trainer that Batch killed never
 * deletes it, so a lock whose job Batch reports finished (or that names no job after the submit
 * window) is taken over, again by a conditional write, so two takers cannot both win.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { TrainingInProgressError } from '../../errors.js';
import type { DynamoSender } from './DynamoDatasetIndex.js';

/** A lock that still names no job after this long belongs to a submit that died half-way. */
const SUBMIT_WINDOW_MS = 5 * 60_000;

export class DynamoTrainingLock {
  constructor(
    private readonly client: DynamoSender,
    readonly table: string,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Takes the dataset's lock and returns its token, or throws TrainingInProgressError naming the
   * job that holds it. `isFinished` asks Batch whether a holder's job has ended.
   */
  async acquire(dataset: string, isFinished: (jobId: string) => Promise<boolean>): Promise<string> {
    const token = randomUUID();
    for (let attempt = 0; attempt < 5; attempt++) {
      const held = await this.read(dataset);
      const item = { pk: { S: key(dataset) }, sk: { S: 'training' }, token: { S: token }, jobId: { S: '' }, at: { N: String(this.now()) } };
      if (held !== undefined) {
        const stale = held.jobId === '' ? this.now() - held.at > SUBMIT_WINDOW_MS : await isFinished(held.jobId);
        if (!stale) throw new TrainingInProgressError(dataset, held.jobId || 'being submitted');
      }
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: item,
            ...(held === undefined
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : { ConditionExpression: '#token = :held', ExpressionAttributeNames: { '#token': 'token' }, ExpressionAttributeValues: { ':held': { S: held.token } } }),
          }),
        );
        return token;
      } catch (error) {
        // Someone else took or changed it between our read and write: look again.
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    const held = await this.read(dataset);
    throw new TrainingInProgressError(dataset, held?.jobId || 'being submitted');
  }

  /** Records the Batch job id on the lock this submit holds. */
  async attach(dataset: string, token: string, jobId: string): Promise<void> {
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.table,
        Key: { pk: { S: key(dataset) }, sk: { S: 'training' } },
        UpdateExpression: 'SET jobId = :job',
        ConditionExpression: '#token = :token',
        ExpressionAttributeNames: { '#token': 'token' },
        ExpressionAttributeValues: { ':job': { S: jobId }, ':token': { S: token } },
      }),
    );
  }

  /** Lets go of the lock if `holder` (a token or a job id) still holds it; a no-op otherwise. */
  async release(dataset: string, holder: { token: string } | { jobId: string }): Promise<void> {
    const [name, value] = 'token' in holder ? ['token', holder.token] : ['jobId', holder.jobId];
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: { pk: { S: key(dataset) }, sk: { S: 'training' } },
          ConditionExpression: '#f = :v',
          ExpressionAttributeNames: { '#f': name },
          ExpressionAttributeValues: { ':v': { S: value } },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  private async read(dataset: string): Promise<{ token: string; jobId: string; at: number } | undefined> {
    const response = await this.client.send(new GetItemCommand({ TableName: this.table, Key: { pk: { S: key(dataset) }, sk: { S: 'training' } }, ConsistentRead: true }));
    const item = response.Item;
    if (item === undefined) return undefined;
    return { token: item['token']?.S ?? '', jobId: item['jobId']?.S ?? '', at: Number(item['at']?.N ?? '0') };
  }
}

function key(dataset: string): string {
  return `L#${dataset}`;
}
