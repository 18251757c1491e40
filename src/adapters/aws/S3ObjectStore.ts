/**
 * The object-store port over one S3 bucket. It answers "absent" only for the errors that mean
 * absent (NoSuchKey / 404); everything else (throttling, 5xx, network, access denied) is thrown
 * unchanged so the calling handler fails the message and SQS delivers it again.
 *
 * Note for the IAM policy: without s3:ListBucket on the bucket, S3 answers 403 (not 404) for a
 * missing key, and `get`/`head` would throw instead of answering undefined.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { ObjectInfo, ObjectStore, PutOptions } from '../../ports/ObjectStore.js';
import { PreconditionFailedError } from '../../errors.js';
import { objectPrefixParts, validateObjectKey } from '../objectKey.js';

/** The part of S3Client this adapter uses; tests may pass a fake. */
export type S3Sender = Pick<S3Client, 'send'>;

export interface S3ObjectStoreOptions {
  /** Keys per ListObjectsV2 page (MaxKeys); S3's default and maximum is 1000. */
  pageSize?: number;
}

export class S3ObjectStore implements ObjectStore {
  private readonly pageSize: number | undefined;

  constructor(
    private readonly client: S3Sender,
    readonly bucket: string,
    options: S3ObjectStoreOptions = {},
  ) {
    this.pageSize = options.pageSize;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: validateObjectKey(key) }));
      if (!response.Body) return new Uint8Array(0);
      return await response.Body.transformToByteArray();
    } catch (error) {
      if (isNoSuchKey(error)) return undefined;
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: validateObjectKey(key) }));
      return {
        key,
        size: response.ContentLength ?? 0,
        etag: unquote(response.ETag),
        ...(response.LastModified ? { lastModified: response.LastModified } : {}),
      };
    } catch (error) {
      // HEAD has no body, so a missing key comes back as a bare 404 named NotFound.
      if (isNoSuchKey(error)) return undefined;
      throw error;
    }
  }

  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: validateObjectKey(key),
          Body: body,
          ContentType: options.contentType ?? (typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream'),
          ...(options.ifMatch === undefined ? {} : { IfMatch: `"${options.ifMatch}"` }),
          ...(options.ifNoneMatch === undefined ? {} : { IfNoneMatch: options.ifNoneMatch }),
        }),
      );
    } catch (error) {
      // 412: the condition failed; 409 ConditionalRequestConflict: a concurrent conditional write won.
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if ((options.ifMatch !== undefined || options.ifNoneMatch !== undefined) && (status === 412 || status === 409)) {
        throw new PreconditionFailedError(key, { cause: error });
      }
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    // S3 answers 204 for a missing key as well.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: validateObjectKey(key) }));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const { dirs } = objectPrefixParts(prefix);
    // Same rule as the folder store: no valid key has an empty segment.
    if (dirs.some((segment) => segment === '')) return;
    let continuationToken: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          ...(prefix === '' ? {} : { Prefix: prefix }),
          ...(this.pageSize ? { MaxKeys: this.pageSize } : {}),
          ...(continuationToken ? { ContinuationToken: continuationToken } : {}),
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          key: object.Key,
          size: object.Size ?? 0,
          etag: unquote(object.ETag),
          ...(object.LastModified ? { lastModified: object.LastModified } : {}),
        };
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
  }
}

/** S3 quotes ETags (`"abc..."`); the port's etag is the bare value. */
function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function isNoSuchKey(error: unknown): boolean {
  const e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  if (!e) return false;
  if (e.name === 'NoSuchKey' || e.name === 'NotFound' || e.Code === 'NoSuchKey') return true;
  // A missing bucket is a deployment error, not a missing object.
  return e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket';
}
