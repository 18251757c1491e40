import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { decodeS3EventKey, parseS3EventMessages } from '../../../src/adapters/aws/s3Events.js';

// Shaped like the documented S3 event message structure (event version 2.1) inside an SQS record as
// Lambda receives it. Keys are encoded the way S3 encodes them: '+' for space, %XX otherwise, '/' kept.
function s3Record(eventName: string, encodedKey: string, size?: number) {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'eu-west-1',
    eventTime: '2025-03-14T09:26:53.589Z',
    eventName,
    userIdentity: { principalId: 'AWS:AIDAEXAMPLE' },
    requestParameters: { sourceIPAddress: '203.0.113.7' },
    responseElements: { 'x-amz-request-id': 'C3D13FE58DE4C810', 'x-amz-id-2': 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'extract-on-upload',
      bucket: { name: 'headstart-data', ownerIdentity: { principalId: 'A3NL1KOZZKExample' }, arn: 'arn:aws:s3:::headstart-data' },
      object: {
        key: encodedKey,
        ...(size === undefined ? {} : { size, eTag: 'd41d8cd98f00b204e9800998ecf8427e' }),
        sequencer: '0055AED6DCD90281E5',
      },
    },
  };
}

function sqsRecord(messageId: string, body: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `AQEB${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '1741944413000',
      SenderId: 'AIDAIT2UOQQY3AUEKVGXU',
      ApproximateFirstReceiveTimestamp: '1741944413010',
    },
    messageAttributes: {},
    md5OfBody: '0123456789abcdef0123456789abcdef',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:headstart-extract',
    awsRegion: 'eu-west-1',
  };
}

const sqsEvent = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
const notification = (...records: unknown[]) => JSON.stringify({ Records: records });

describe('parseS3EventMessages', () => {
  it('decodes S3-encoded keys: + is a space, %2B a plus, %25 a percent, %XX UTF-8', () => {
    const batch = parseS3EventMessages(
      sqsEvent(
        sqsRecord('m1', notification(s3Record('ObjectCreated:Put', 'datasets/my+set/ants/ant+photo+%281%29.jpg', 1234))),
        sqsRecord('m2', notification(s3Record('ObjectCreated:CompleteMultipartUpload', 'datasets/d/l/a%2Bb+100%25+%C3%BC%E6%97%A5.png', 9))),
        // moto_server encodes '/' too: the same key must come out.
        sqsRecord('m3', notification(s3Record('ObjectCreated:Put', 'datasets%2Fmy+set%2Fants%2Fant+photo+%281%29.jpg', 1234))),
      ),
    );
    expect(batch.unreadable).toEqual([]);
    expect(batch.events).toEqual([
      { id: 'm1', kind: 'created', key: 'datasets/my set/ants/ant photo (1).jpg' },
      { id: 'm2', kind: 'created', key: 'datasets/d/l/a+b 100% ü日.png' },
      { id: 'm3', kind: 'created', key: 'datasets/my set/ants/ant photo (1).jpg' },
    ]);
  });

  it('maps ObjectRemoved:* to removed and ignores event kinds that do not change the bytes', () => {
    const batch = parseS3EventMessages(
      sqsEvent(
        sqsRecord('del', notification(s3Record('ObjectRemoved:Delete', 'datasets/d/l/gone.jpg'))),
        sqsRecord('marker', notification(s3Record('ObjectRemoved:DeleteMarkerCreated', 'datasets/d/l/hidden.jpg'))),
        sqsRecord('tag', notification(s3Record('ObjectTagging:Put', 'datasets/d/l/tagged.jpg'))),
        sqsRecord('restore', notification(s3Record('ObjectRestore:Completed', 'datasets/d/l/cold.jpg'))),
      ),
    );
    expect(batch.events).toEqual([
      { id: 'del', kind: 'removed', key: 'datasets/d/l/gone.jpg' },
      { id: 'marker', kind: 'removed', key: 'datasets/d/l/hidden.jpg' },
    ]);
    expect(batch.unreadable).toEqual([]);
  });

  it('yields nothing, and no failure, for the s3:TestEvent sent when notifications are configured', () => {
    const testEvent = JSON.stringify({
      Service: 'Amazon S3',
      Event: 's3:TestEvent',
      Time: '2025-03-14T09:20:00.000Z',
      Bucket: 'headstart-data',
      RequestId: '5582815E1AEA5ADF',
      HostId: '8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE',
    });
    expect(parseS3EventMessages(sqsEvent(sqsRecord('t', testEvent)))).toEqual({ events: [], unreadable: [] });
  });

  it('returns every record of a multi-record body under the one SQS message id', () => {
    const body = notification(
      s3Record('ObjectCreated:Put', 'datasets/d/l/1.jpg', 1),
      s3Record('ObjectCreated:Copy', 'datasets/d/l/2.jpg', 2),
      s3Record('ObjectRemoved:Delete', 'datasets/d/l/3.jpg'),
    );
    const batch = parseS3EventMessages(sqsEvent(sqsRecord('multi', body), sqsRecord('single', notification(s3Record('ObjectCreated:Post', 'datasets/d/l/4.jpg', 4)))));
    expect(batch.events).toEqual([
      { id: 'multi', kind: 'created', key: 'datasets/d/l/1.jpg' },
      { id: 'multi', kind: 'created', key: 'datasets/d/l/2.jpg' },
      { id: 'multi', kind: 'removed', key: 'datasets/d/l/3.jpg' },
      { id: 'single', kind: 'created', key: 'datasets/d/l/4.jpg' },
    ]);
  });

  it('reports garbage bodies as unreadable by message id, and still parses the rest of the batch', () => {
    const batch = parseS3EventMessages(
      sqsEvent(
        sqsRecord('garbage', 'this is not json {'),
        sqsRecord('good', notification(s3Record('ObjectCreated:Put', 'datasets/d/l/ok.jpg', 1))),
        sqsRecord('number', '42'),
        sqsRecord('wrong-json', JSON.stringify({ hello: 'world' })),
        sqsRecord('bad-encoding', notification(s3Record('ObjectCreated:Put', 'datasets/d/l/%E0%A4%A.jpg', 1))),
        sqsRecord('no-key', notification({ eventName: 'ObjectCreated:Put', s3: { object: {} } })),
        sqsRecord('half-bad', notification(s3Record('ObjectCreated:Put', 'datasets/d/l/fine.jpg', 1), s3Record('ObjectCreated:Put', '%zz', 1))),
      ),
    );
    expect(batch.events).toEqual([{ id: 'good', kind: 'created', key: 'datasets/d/l/ok.jpg' }]);
    expect(batch.unreadable.map((u) => u.id)).toEqual(['garbage', 'number', 'wrong-json', 'bad-encoding', 'no-key', 'half-bad']);
    expect(batch.unreadable[0]?.reason).toMatch(/not JSON/);
    expect(batch.unreadable[3]?.reason).toMatch(/not valid URL encoding/);
  });

  it('an empty batch or an empty Records list is nothing to do', () => {
    expect(parseS3EventMessages(sqsEvent())).toEqual({ events: [], unreadable: [] });
    expect(parseS3EventMessages(sqsEvent(sqsRecord('e', '{"Records":[]}')))).toEqual({ events: [], unreadable: [] });
  });
});

describe('decodeS3EventKey', () => {
  it('inverts the form encoding S3 applies', () => {
    const key = "datasets/x/y/a+b %41 %zz 100% [c] {d} #e ?f &g=h ü 日本 quote's.png";
    const encoded = encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/');
    expect(decodeS3EventKey(encoded)).toBe(key);
    expect(decodeS3EventKey('%')).toBeUndefined();
  });
});
