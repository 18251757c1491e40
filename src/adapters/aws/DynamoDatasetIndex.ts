/**
 * The dataset index on DynamoDB: one table (on-demand), items told apart by their partition key.
 *
 *   pk = E#<dataset>        sk = <object key>       an entry; gsi1pk = S#<dataset>#<state>, gsi1sk = key
 *   pk = C#<dataset>        sk = <state>#<label>    a counter (n)
 *   pk = D                  sk = <dataset>          rows of the dataset in all (n): the dataset list
 *   pk = B#<backboneId>     sk = <sha256>           the cache holds this content's embedding
 *
 * Exact counters under at-least-once, reordered and concurrent writers: every entry carries a
 * revision, and a change is one TransactWriteItems of the entry (conditioned on the revision read)
 * with its counter deltas. A writer that lost a race gets ConditionalCheckFailed, reads the entry
 * again and retries, so no delta is ever applied twice or lost. Lists by state come from the GSI
 * (eventually consistent: a row written a moment ago may be missing from a list, never from a
 * counter).
 */
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  GetItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  TransactionCanceledException,
  type AttributeValue,
  type DynamoDBClient,
  type QueryCommandInput,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import type { DatasetCounts, DatasetIndex, EntryQuery, EntryState, IndexEntry } from '../../ports/DatasetIndex.js';
import { NO_DATASET } from '../../ports/DatasetIndex.js';

export type DynamoSender = Pick<DynamoDBClient, 'send'>;

export const INDEX_GSI = 'byState';
const MAX_ATTEMPTS = 12;
type Item = Record<string, AttributeValue>;

export class DynamoDatasetIndex implements DatasetIndex {
  constructor(
    private readonly client: DynamoSender,
    readonly table: string,
  ) {}

  async get(dataset: string | undefined, key: string): Promise<IndexEntry | undefined> {
    const item = await this.getItem(entryPk(dataset), key);
    return item === undefined ? undefined : fromItem(item);
  }

  async put(entries: readonly IndexEntry[]): Promise<void> {
    for (const entry of entries) await this.change(entry.dataset, entry.key, entry);
  }

  async delete(dataset: string | undefined, keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.change(dataset, key, undefined);
  }

  async counts(dataset: string): Promise<DatasetCounts | undefined> {
    const counts: DatasetCounts = { dataset, labels: {}, embedded: 0, refused: 0 };
    let any = false;
    for await (const item of this.query({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: `C#${dataset}` } }, ConsistentRead: true })) {
      const n = Number(item['n']?.N ?? '0');
      if (n <= 0) continue;
      any = true;
      const sk = item['sk']?.S ?? '';
      const split = sk.indexOf('#');
      const state = sk.slice(0, split);
      const label = sk.slice(split + 1);
      if (state === 'embedded') {
        counts.labels[label] = (counts.labels[label] ?? 0) + n;
        counts.embedded += n;
      } else counts.refused += n;
    }
    return any ? counts : undefined;
  }

  async *entries(dataset: string | undefined, query: EntryQuery = {}): AsyncIterable<IndexEntry> {
    const after = query.after;
    const input: QueryCommandInput =
      query.state === undefined
        ? {
            TableName: this.table,
            KeyConditionExpression: after === undefined ? 'pk = :pk' : 'pk = :pk AND sk > :after',
            ExpressionAttributeValues: { ':pk': { S: entryPk(dataset) }, ...(after === undefined ? {} : { ':after': { S: after } }) },
            ConsistentRead: true,
          }
        : {
            TableName: this.table,
            IndexName: INDEX_GSI,
            KeyConditionExpression: after === undefined ? 'gsi1pk = :pk' : 'gsi1pk = :pk AND gsi1sk > :after',
            ExpressionAttributeValues: { ':pk': { S: statePk(dataset, query.state) }, ...(after === undefined ? {} : { ':after': { S: after } }) },
          };
    let left = query.limit ?? Number.POSITIVE_INFINITY;
    for await (const item of this.query(input)) {
      if (left-- <= 0) return;
      yield fromItem(item);
    }
  }

  async datasets(): Promise<string[]> {
    const names: string[] = [];
    for await (const item of this.query({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'D' } } })) {
      const name = item['sk']?.S ?? '';
      if (name !== '' && name !== '#' && Number(item['n']?.N ?? '0') > 0) names.push(name.slice(1));
    }
    return names.sort();
  }

  async embeddedWith(backboneId: string, sha256s: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const unique = [...new Set(sha256s)];
    for (let i = 0; i < unique.length; i += 100) {
      let keys: Item[] = unique.slice(i, i + 100).map((sha) => ({ pk: { S: `B#${backboneId}` }, sk: { S: sha } }));
      for (let attempt = 0; keys.length > 0 && attempt < MAX_ATTEMPTS; attempt++) {
        const response = await this.client.send(new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: keys, ProjectionExpression: 'sk' } } }));
        for (const item of response.Responses?.[this.table] ?? []) found.add(item['sk']?.S ?? '');
        keys = response.UnprocessedKeys?.[this.table]?.Keys ?? [];
        if (keys.length > 0) await backoff(attempt);
      }
    }
    return found;
  }

  async noteEmbedded(backboneId: string, sha256s: readonly string[]): Promise<void> {
    const unique = [...new Set(sha256s)];
    for (let i = 0; i < unique.length; i += 25) {
      let writes = unique.slice(i, i + 25).map((sha) => ({ PutRequest: { Item: { pk: { S: `B#${backboneId}` }, sk: { S: sha } } } }));
      for (let attempt = 0; writes.length > 0 && attempt < MAX_ATTEMPTS; attempt++) {
        const response = await this.client.send(new BatchWriteItemCommand({ RequestItems: { [this.table]: writes } }));
        writes = (response.UnprocessedItems?.[this.table] ?? []) as typeof writes;
        if (writes.length > 0) await backoff(attempt);
      }
    }
  }

  /** Moves one entry to `next` (or removes it), with its counters, retrying lost races. */
  private async change(dataset: string | undefined, key: string, next: IndexEntry | undefined): Promise<void> {
    const pk = entryPk(dataset);
    const ds = dataset ?? NO_DATASET;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.getItem(pk, key);
      if (current === undefined && next === undefined) return;
      const rev = current === undefined ? 0 : Number(current['rev']?.N ?? '0');
      const condition =
        current === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : { ConditionExpression: 'rev = :rev', ExpressionAttributeValues: { ':rev': { N: String(rev) } } };
      const items: TransactWriteItem[] = [
        next === undefined
          ? { Delete: { TableName: this.table, Key: { pk: { S: pk }, sk: { S: key } }, ...condition } }
          : { Put: { TableName: this.table, Item: toItem(next, rev + 1), ...condition } },
      ];
      const before = current === undefined ? undefined : counterSk(current['state']?.S ?? '', current['label']?.S ?? '');
      const after = next === undefined ? undefined : counterSk(next.state, next.label ?? '');
      if (before !== after) {
        if (before !== undefined) items.push(this.add(`C#${ds}`, before, -1));
        if (after !== undefined) items.push(this.add(`C#${ds}`, after, 1));
      }
      const rows = (next === undefined ? 0 : 1) - (current === undefined ? 0 : 1);
      if (rows !== 0) items.push(this.add('D', `#${ds}`, rows));
      try {
        await this.client.send(new TransactWriteItemsCommand({ TransactItems: items }));
        return;
      } catch (error) {
        // Another writer changed the entry (or a counter item was busy): read it again and retry.
        if (!(error instanceof TransactionCanceledException)) throw error;
        await backoff(attempt);
      }
    }
    throw new Error(`index entry ${key} of dataset "${ds}" kept changing; gave up after ${MAX_ATTEMPTS} attempts`);
  }

  private add(pk: string, sk: string, n: number): TransactWriteItem {
    return {
      Update: {
        TableName: this.table,
        Key: { pk: { S: pk }, sk: { S: sk } },
        UpdateExpression: 'ADD n :n',
        ExpressionAttributeValues: { ':n': { N: String(n) } },
      },
    };
  }

  private async getItem(pk: string, sk: string): Promise<Item | undefined> {
    const response = await this.client.send(new GetItemCommand({ TableName: this.table, Key: { pk: { S: pk }, sk: { S: sk } }, ConsistentRead: true }));
    return response.Item;
  }

  private async *query(input: QueryCommandInput): AsyncIterable<Item> {
    let start: Item | undefined;
    do {
      const response = await this.client.send(new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }));
      for (const item of response.Items ?? []) yield item;
      start = response.LastEvaluatedKey;
    } while (start !== undefined);
  }
}

function entryPk(dataset: string | undefined): string {
  return `E#${dataset ?? NO_DATASET}`;
}

function statePk(dataset: string | undefined, state: EntryState): string {
  return `S#${dataset ?? NO_DATASET}#${state}`;
}

function counterSk(state: string, label: string): string {
  return `${state}#${label}`;
}

/** The item an entry is stored as (exported for bulk seeding in benchmarks). */
export function toItem(entry: IndexEntry, rev: number): Item {
  const item: Item = {
    pk: { S: entryPk(entry.dataset) },
    sk: { S: entry.key },
    gsi1pk: { S: statePk(entry.dataset, entry.state) },
    gsi1sk: { S: entry.key },
    rev: { N: String(rev) },
    etag: { S: entry.etag },
    size: { N: String(entry.size) },
    state: { S: entry.state },
    updatedAt: { S: entry.updatedAt },
  };
  const optional = { dataset: entry.dataset, label: entry.label, file: entry.file, sha256: entry.sha256, backbone: entry.backbone, errorCode: entry.error?.code, errorMessage: entry.error?.message };
  for (const [name, value] of Object.entries(optional)) if (value !== undefined) item[name] = { S: value };
  return item;
}

function fromItem(item: Item): IndexEntry {
  const s = (name: string): string | undefined => item[name]?.S;
  const optional = (name: string, as = name): Record<string, string> => (s(name) === undefined ? {} : { [as]: s(name) as string });
  return {
    key: s('sk') ?? '',
    ...optional('dataset'),
    ...optional('label'),
    ...optional('file'),
    etag: s('etag') ?? '',
    size: Number(item['size']?.N ?? '0'),
    state: (s('state') ?? 'refused') as EntryState,
    ...optional('sha256'),
    ...optional('backbone'),
    ...(s('errorCode') === undefined ? {} : { error: { code: s('errorCode') as string, message: s('errorMessage') ?? '' } }),
    updatedAt: s('updatedAt') ?? '',
  };
}

function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 10 * 2 ** attempt) * (0.5 + Math.random())));
}

/**
 * The table's keys, in one place: the CDK storage construct declares the same, and the integration
 * tests create the table on moto_server from this.
 */
export const INDEX_TABLE_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
  gsi: { name: INDEX_GSI, partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
} as const;
