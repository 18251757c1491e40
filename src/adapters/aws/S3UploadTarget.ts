/**
 * Presigned S3 PUT URLs for uploads from the console: the browser sends the bytes straight to the
 * bucket, and the bucket's event notification starts extraction exactly as for `aws s3 cp`. The
 * URL is signed with the infer function's role, so that role needs s3:PutObject on datasets/*.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { datasetObjectKey } from '../../dataset/keys.js';
import type { UploadGrant, UploadRequest, UploadTarget } from '../../ports/UploadTarget.js';

/** Long enough for a slow connection to send a 50 MB photo, short enough not to linger. */
export const DEFAULT_UPLOAD_URL_SECONDS = 900;

export class S3UploadTarget implements UploadTarget {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly expiresInSeconds = DEFAULT_UPLOAD_URL_SECONDS,
  ) {}

  async grant({ dataset, label, file, contentType }: UploadRequest): Promise<UploadGrant> {
    const key = datasetObjectKey(dataset, label, file);
    const command = new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentType: contentType });
    // content-type is signed: the browser must send the same value, so it cannot be swapped later.
    const url = await getSignedUrl(this.client, command, { expiresIn: this.expiresInSeconds, signableHeaders: new Set(['content-type']) });
    return { key, method: 'PUT', url, headers: { 'content-type': contentType }, expiresAt: new Date(Date.now() + this.expiresInSeconds * 1000).toISOString() };
  }
}
