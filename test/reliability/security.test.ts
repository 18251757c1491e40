/**
 * Security checks: the local server listens on loopback only unless told otherwise; dataset, label,
 * file, version and job names cannot write outside HEADSTART_HOME (CLI and HTTP API); the extract
 * Lambda's logs carry no image bytes and no credentials; and the CDK stack properties that
 * test/infra/pipeline-stack.test.ts does not already assert (it covers public access blocks, TLS,
 * encryption, per-role S3 prefixes, route authorization and cdk-nag).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ROUTES } from '../../infra/lib/constructs/serving.js';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDatasetIndex } from '../../src/adapters/aws/DynamoDatasetIndex.js';
import { S3ObjectStore } from '../../src/adapters/aws/S3ObjectStore.js';
import { Backbone } from '../../src/backbone/Backbone.js';
import { localConfig } from '../../src/config.js';
import { makeExtractHandler } from '../../src/edges/lambda/extractHandler.js';
import { LocalRuntime } from '../../src/local/LocalRuntime.js';
import { serve } from '../../src/local/server.js';
import type { Embedder } from '../../src/pipeline/extract.js';
import { datasetStatus } from '../../src/pipeline/status.js';
import { createExtractionResources, createIndexTable, MOTO_REGION, motoS3Client, motoSqsClient, startMoto } from '../helpers/moto.js';
import { digestDifferences, drainQueue, hymenoptera, OutcomeTable, rawRequest, runCli, spawnCli, treeDigest, waitFor, writeLabelledFolder } from '../helpers/reliability.js';
import { removeScratch, synth } from '../infra/synth.js';
import { freePort } from '../helpers/freePort.js';

const table = new OutcomeTable(
  'Reliability: security',
  'reliability-security.md',
  'Written by `npx vitest run test/reliability/security.test.ts`.',
);

let sandbox: string;

beforeAll(async () => {
  sandbox = await mkdtemp(path.join(os.tmpdir(), 'hs-security-'));
});

afterAll(async () => {
  await table.write();
  removeScratch();
  if (sandbox) await rm(sandbox, { recursive: true, force: true });
});


function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 1_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

describe('local server binding', () => {
  it('serve() binds to 127.0.0.1 when no host is given', async () => {
    const runtime = await LocalRuntime.open({ ...localConfig({}), home: path.join(sandbox, 'bind-home') });
    const server = await serve(runtime.apiContext(), { port: 0 });
    try {
      const address = server.server.address() as net.AddressInfo;
      const row = table.record({ area: 'binding', input: 'serve() without a host', expected: 'listens on 127.0.0.1 only', observed: address.address === '127.0.0.1' ? 'listens on 127.0.0.1 only' : `listens on ${address.address}` });
      expect(row.observed).toBe(row.expected);
    } finally {
      await server.close();
      await runtime.close();
    }
  });

  it('`headstart serve` without --host answers on loopback and refuses every other interface address', async () => {
    const port = await freePort();
    const home = path.join(sandbox, 'serve-home');
    const { child, exited, output } = spawnCli(['serve', '--port', String(port)], { home, cwd: sandbox });
    try {
      await waitFor('headstart serve to listen', () => output().includes('headstart API on') || child.exitCode !== null, 60_000);
      const others = Object.values(os.networkInterfaces())
        .flat()
        .filter((a): a is os.NetworkInterfaceInfo => a !== undefined && !a.internal)
        .map((a) => a.address);
      const reachable = [];
      for (const address of others) if (await connects(address, port)) reachable.push(address);
      const health = await rawRequest(`http://127.0.0.1:${port}`, 'GET', '/health');
      const row = table.record({
        area: 'binding',
        input: '`headstart serve --port N` (no --host)',
        expected: 'answers on 127.0.0.1; refused on every non-loopback address',
        observed: health.status === 200 && reachable.length === 0 ? 'answers on 127.0.0.1; refused on every non-loopback address' : `health ${health.status}; reachable on ${reachable.join(', ')}`,
        detail: `${output().trim()}; tried ${others.length ? others.join(', ') : 'no non-loopback address on this machine'}`,
      });
      expect(output()).toContain(`http://127.0.0.1:${port}`);
      expect(row.observed).toBe(row.expected);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});

// -------------------------------------------------------------------------------------------------

describe('no path traversal out of HEADSTART_HOME', () => {
  // A unique name every traversal attempt tries to create, searched for afterwards.
  const marker = `escape-${randomBytes(4).toString('hex')}`;
  let home: string;
  let apiHome: string;
  let outsideBefore: Map<string, string>;

  /** Everything in the sandbox except the two homes, plus the places a traversal could reach. */
  async function outside(): Promise<Map<string, string>> {
    const digest = new Map<string, string>();
    for (const [file, hash] of await treeDigest(sandbox)) {
      if (!file.startsWith(`home${path.sep}`) && !file.startsWith(`api-home${path.sep}`)) digest.set(file, hash);
    }
    return digest;
  }

  function markerFound(): string[] {
    const places = [os.tmpdir(), sandbox, path.dirname(sandbox), '/tmp', process.cwd(), path.join(home, '..'), path.join(home, '..', '..')];
    return places.filter((dir) => existsSync(path.join(dir, marker)) || existsSync(path.join(dir, `${marker}.jpg`)));
  }

  beforeAll(async () => {
    home = path.join(sandbox, 'home');
    apiHome = path.join(sandbox, 'api-home');
    const data = path.join(sandbox, 'data');
    const [ant, bee] = [(await hymenoptera('val', 'ants', 1, 10))[0]!, (await hymenoptera('val', 'bees', 1, 10))[0]!];
    // A file and a label folder whose names climb with backslashes (names starting with "." would be
    // skipped as hidden files, so these start with a letter), and a label spelled %2e%2e.
    await writeLabelledFolder(data, { ants: [ant, { name: `a\\..\\..\\${marker}.jpg`, bytes: ant.bytes }], bees: [bee, { name: 'b2.jpg', bytes: ant.bytes }] });
    await mkdir(path.join(data, `l\\..\\..\\${marker}`), { recursive: true });
    await writeFile(path.join(data, `l\\..\\..\\${marker}`, 'x.jpg'), ant.bytes);
    await mkdir(path.join(data, '%2e%2e'), { recursive: true });
    await writeFile(path.join(data, '%2e%2e', 'y.jpg'), bee.bytes);
    outsideBefore = await outside();
  });

  const CLI_CASES: Array<{ args: (data: string) => string[]; expected: string }> = [
    { args: (d) => ['upload', d, '--dataset', '..'], expected: 'refused' },
    { args: (d) => ['upload', d, '--dataset', '%2e%2e'], expected: 'accepted as the literal name, inside the home' },
    { args: (d) => ['upload', d, '--dataset', `../../../../${marker}`], expected: 'refused' },
    { args: (d) => ['upload', d, '--dataset', `/tmp/${marker}`], expected: 'refused' },
    { args: (d) => ['upload', d, '--dataset', `..\\..\\${marker}`], expected: 'refused' },
    { args: (d) => ['upload', d, '--dataset', '.'], expected: 'refused' },
    { args: () => ['status', `../../${marker}`], expected: 'refused' },
    { args: () => ['train', `../../../${marker}`], expected: 'refused' },
    { args: () => ['promote', 'ds', `../../${marker}`], expected: 'refused' },
    { args: () => ['report', '..', '--out', path.join('report.html')], expected: 'refused' },
  ];

  it('CLI: traversal in dataset, label, file and version names is refused or stays a literal name inside the home', async () => {
    const data = path.join(sandbox, 'data');
    const run = async (c: (typeof CLI_CASES)[number]) => ({ c, r: await runCli(c.args(data), { home, cwd: data }) });
    // The one valid upload alone (it extracts), the refused ones two at a time (two cores).
    const results = [await run(CLI_CASES[1]!)];
    const refused = CLI_CASES.filter((_, i) => i !== 1);
    for (let i = 0; i < refused.length; i += 2) results.push(...(await Promise.all(refused.slice(i, i + 2).map(run))));
    const failures: string[] = [];
    for (const { c, r } of results) {
      const args = c.args('<folder>');
      let observed: string;
      if (r.code !== 0) observed = /name|path|segment|separator|not a version/i.test(r.stderr) ? 'refused' : `failed: ${r.stderr.trim()}`;
      else observed = existsSync(path.join(home, 'bucket', 'datasets', '%2e%2e')) ? 'accepted as the literal name, inside the home' : 'accepted';
      const row = table.record({ area: 'path traversal: CLI', input: `headstart ${args.join(' ')}`, expected: c.expected, observed, detail: r.code !== 0 ? r.stderr.trim() : r.stdout.trim().slice(0, 300) });
      if (row.observed !== row.expected) failures.push(`${row.input}: ${row.observed}`);
      if (args.join(' ') === 'upload <folder> --dataset %2e%2e') {
        // The label folder and the file name that try to climb are refused with a reason.
        expect(r.stdout).toMatch(/failed: .*a\\\.\.\\\.\.\\escape-[0-9a-f]+\.jpg: .*(separator|backslash)/);
        expect(r.stdout).toMatch(/failed: .*x\.jpg: .*(separator|backslash)/);
      }
    }
    expect(failures).toEqual([]);
  });

  const API_PATHS: Array<[string, string, string]> = [
    ['GET', '/datasets/..', '400 invalid_name'],
    ['GET', '/datasets/%2e%2e', '400 invalid_name'],
    ['GET', '/datasets/%2E%2E/models', '400 invalid_name'],
    ['POST', `/datasets/%2e%2e%2f%2e%2e%2f${'%2e%2e%2f'.repeat(3)}${'MARKER'}/train`, '400 invalid_name'],
    ['POST', '/datasets/..%2F..%2FMARKER/predict', '400 invalid_name'],
    ['GET', '/datasets/%2Ftmp%2FMARKER', '400 invalid_name'],
    ['GET', '/datasets/..%5C..%5CMARKER', '400 invalid_name'],
    ['GET', '/datasets/%2e%2e/report', '400 invalid_name'],
    ['GET', '/jobs/..%2F..%2Fqueue', '400 invalid_name'],
    ['GET', '/jobs/%2e%2e', '400 invalid_name'],
    ['GET', '/../../etc/passwd', '404 route_not_found'],
    ['GET', '/datasets/x/../../../../etc/passwd', '404 route_not_found'],
  ];

  it('HTTP API: traversal in path segments (raw, percent-encoded, backslashes, absolute) gets a 4xx and writes nothing', async () => {
    const runtime = await LocalRuntime.open({ ...localConfig({}), home: apiHome });
    const server = await serve(runtime.apiContext(), { port: 0 });
    const before = await treeDigest(path.join(apiHome, 'bucket'));
    const photo = (await hymenoptera('val', 'ants', 1, 12))[0]!.bytes;
    const failures: string[] = [];
    try {
      for (const [method, rawPath, expected] of API_PATHS) {
        const p = rawPath.replace('MARKER', marker);
        const r = await rawRequest(server.url, method, p, method === 'POST' ? photo : undefined, method === 'POST' ? { 'content-type': 'image/jpeg' } : {});
        const observed = `${r.status} ${String(r.json['code'])}`;
        const row = table.record({ area: 'path traversal: API', input: `${method} ${p}`, expected, observed, detail: String(r.json['error'] ?? '') });
        if (row.observed !== row.expected) failures.push(`${row.input}: ${row.observed}`);
      }
    } finally {
      await server.close();
      await runtime.close();
    }
    const written = digestDifferences(await treeDigest(path.join(apiHome, 'bucket')), before);
    expect(failures).toEqual([]);
    expect(written).toEqual([]);
  });

  it('nothing was written outside the homes, and the marker name exists nowhere', async () => {
    const changes = digestDifferences(await outside(), outsideBefore);
    const found = markerFound();
    const inHome = (await readdir(path.join(home, 'bucket', 'datasets'))).sort();
    const row = table.record({
      area: 'path traversal',
      input: `after every CLI and API attempt above (marker "${marker}")`,
      expected: 'nothing written outside HEADSTART_HOME',
      observed: changes.length === 0 && found.length === 0 ? 'nothing written outside HEADSTART_HOME' : `changes ${changes.join(', ')}; marker in ${found.join(', ')}`,
      detail: `datasets inside the home: ${inHome.join(', ')}`,
    });
    expect(row.observed).toBe(row.expected);
    expect(inHome).toEqual(['%2e%2e']);
  });
});

// -------------------------------------------------------------------------------------------------

describe('extract Lambda logs', () => {
  it('carry no image bytes (base64 or hex) and no AWS credentials, for good images, bad images, an unreadable message and a transient failure', async () => {
    const moto = await startMoto();
    const admin = motoS3Client(moto.endpoint);
    const sqs = motoSqsClient(moto.endpoint);
    const secrets = {
      AWS_ACCESS_KEY_ID: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
      AWS_SECRET_ACCESS_KEY: `${randomBytes(15).toString('base64')}/hsSecret`,
      AWS_SESSION_TOKEN: `hsToken${randomBytes(24).toString('base64')}`,
    };
    const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]));
    Object.assign(process.env, secrets);
    const backbone = await Backbone.load();
    const lines: string[] = [];
    const capture = (chunk: unknown): boolean => {
      lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return true;
    };
    try {
      const resources = await createExtractionResources(admin, sqs, { visibilityTimeoutSeconds: 2 });
      // The function's own client: credentials from the environment, as in Lambda.
      const s3 = new S3Client({ endpoint: moto.endpoint, region: MOTO_REGION, forcePathStyle: true, maxAttempts: 1 });
      const store = new S3ObjectStore(s3, resources.bucket);
      // Its DynamoDB client too (the dataset index), on the same moto server.
      const dynamo = new DynamoDBClient({ endpoint: moto.endpoint, region: MOTO_REGION, maxAttempts: 1 });
      const index = new DynamoDatasetIndex(dynamo, await createIndexTable(dynamo));
      const images = [...(await hymenoptera('val', 'ants', 2, 14)), ...(await hymenoptera('val', 'bees', 1, 14))];
      const truncated = images[1]!.bytes.subarray(0, 5000);
      for (const [i, image] of images.entries()) await store.put(`datasets/logs/${i < 2 ? 'ants' : 'bees'}/${image.name}`, image.bytes);
      await store.put('datasets/logs/ants/truncated.jpg', truncated);
      await store.put('datasets/logs/ants/notes.jpg', 'not a photo');
      await sqs.send(new SendMessageCommand({ QueueUrl: resources.queueUrl, MessageBody: 'this is not an S3 notification' }));

      let calls = 0;
      const flaky: Embedder = {
        id: backbone.id,
        embedImages: async (batch) => {
          if (calls++ === 0) throw new Error('simulated out of memory in the backbone');
          return backbone.embedImages(batch);
        },
      };
      const logger = new Logger({ serviceName: 'headstart-extract', logLevel: 'DEBUG' });
      const handler = makeExtractHandler({ store, index, embedder: async () => flaky, logger });
      const context = { functionName: 'extract', awsRequestId: 'logs' } as unknown as Context;
      const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
      const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
      try {
        await drainQueue(sqs, resources.queueUrl, resources.queueArn, (event) => handler(event, context), 60_000).catch(() => undefined);
      } finally {
        out.mockRestore();
        err.mockRestore();
      }
      // The run did its work with the environment's credentials: the logs had something to leak.
      expect(await datasetStatus({ store, index }, 'logs')).toMatchObject({ images: 3, pending: 0 });
      s3.destroy();
      dynamo.destroy();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await backbone.release();
      admin.destroy();
      sqs.destroy();
      await moto.stop();
    }

    const log = lines.join('');
    const images = [...(await hymenoptera('val', 'ants', 2, 14)), ...(await hymenoptera('val', 'bees', 1, 14))].map((i) => i.bytes);
    // Base64 of any stretch of an image shows up as one of three alignments; 24 characters is 18 bytes.
    const leaks: string[] = [];
    for (const bytes of images) {
      for (const offset of [0, 1, 2, 999, 4000]) {
        const b64 = Buffer.from(bytes.subarray(offset, offset + 300)).toString('base64').slice(4, 28);
        if (log.includes(b64)) leaks.push(`base64 at ${offset}`);
      }
      if (log.includes(Buffer.from(bytes.subarray(0, 24)).toString('hex'))) leaks.push('hex of the header');
    }
    for (const [name, value] of Object.entries(secrets)) if (log.includes(value)) leaks.push(name);
    const parsed = log.split('\n').filter((l) => l.trim().length > 0);
    const row = table.record({
      area: 'logs',
      input: 'extract handler at DEBUG: 3 photos, a truncated JPEG, a text file, an unreadable message, a failing backbone run',
      expected: 'no image bytes, no credentials in the logs',
      observed: leaks.length === 0 ? 'no image bytes, no credentials in the logs' : `leaked: ${leaks.join(', ')}`,
      detail: `${parsed.length} log lines, ${log.length} characters`,
    });
    expect(log).toContain('extract batch done');
    expect(log).toContain('simulated out of memory');
    expect(log).toContain('unreadable message');
    for (const line of parsed) expect(() => JSON.parse(line)).not.toThrow();
    expect(row.observed).toBe(row.expected);
  });
});

// -------------------------------------------------------------------------------------------------

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('CDK stack: cross-cutting checks not in test/infra', () => {
  const { template } = synth();
  const resources = Object.entries(template.toJSON().Resources as Record<string, Json>);
  const statementsOf = (type: string): Array<{ id: string; statement: Json }> =>
    resources.filter(([, r]) => r.Type === type).flatMap(([id, r]) => (r.Properties.PolicyDocument.Statement as Json[]).map((statement) => ({ id, statement })));
  const identityStatements = (): Array<{ id: string; statement: Json }> => [
    ...statementsOf('AWS::IAM::Policy'),
    ...resources
      .filter(([, r]) => r.Type === 'AWS::IAM::Role')
      .flatMap(([id, r]) => ((r.Properties.Policies ?? []) as Json[]).flatMap((p) => (p.PolicyDocument.Statement as Json[]).map((statement) => ({ id, statement })))),
  ];

  it('no identity policy allows a whole service ("*" or "<service>:*"), and "Resource: *" only for actions that take no resource', () => {
    const wide: string[] = [];
    const starResources = new Set<string>();
    for (const { id, statement } of identityStatements()) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of ([] as string[]).concat(statement.Action)) {
        if (action === '*' || action.endsWith(':*')) wide.push(`${id}: ${action}`);
        if (([] as Json[]).concat(statement.Resource).includes('*')) starResources.add(action);
      }
    }
    // X-Ray, ECR auth tokens and Batch DescribeJobs have no resource-level permissions.
    const noResourceLevel = ['batch:DescribeJobs', 'ecr:GetAuthorizationToken', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
    const row = table.record({
      area: 'CDK',
      input: 'every Allow statement of every role (functions, trainer, instances, CDK custom resources)',
      expected: 'no service-wide action; Resource * only where AWS has no resource-level permission',
      observed: wide.length === 0 && [...starResources].every((a) => noResourceLevel.includes(a)) ? 'no service-wide action; Resource * only where AWS has no resource-level permission' : `wide: ${wide.join(', ')}; on *: ${[...starResources].join(', ')}`,
      detail: `actions on *: ${[...starResources].sort().join(', ')}`,
    });
    expect(row.observed).toBe(row.expected);
  });

  it('bucket and queue policies allow only an AWS service, and only from this stack\'s resource (no confused deputy)', () => {
    const problems: string[] = [];
    let allows = 0;
    for (const { id, statement } of [...statementsOf('AWS::S3::BucketPolicy'), ...statementsOf('AWS::SQS::QueuePolicy')]) {
      if (statement.Effect !== 'Allow') continue;
      allows++;
      if (!statement.Principal?.Service || statement.Principal.AWS !== undefined) problems.push(`${id}: principal ${JSON.stringify(statement.Principal)}`);
      const condition = JSON.stringify(statement.Condition ?? {});
      if (!/aws:SourceArn|aws:SourceAccount/.test(condition)) problems.push(`${id}: no source condition`);
    }
    const row = table.record({ area: 'CDK', input: `${allows} Allow statements in bucket and queue policies`, expected: 'service principals with a source condition', observed: problems.length === 0 ? 'service principals with a source condition' : problems.join('; ') });
    expect(allows).toBeGreaterThan(0);
    expect(row.observed).toBe(row.expected);
  });

  it('the infer function is invocable only by this HTTP API, route by route; no function URL; roles trust only AWS services', () => {
    const problems: string[] = [];
    const permissions = resources.filter(([, r]) => r.Type === 'AWS::Lambda::Permission');
    const apiId = resources.find(([, r]) => r.Type === 'AWS::ApiGatewayV2::Api')?.[0];
    const routePaths = new Set(ROUTES.map((r) => r.path));
    for (const [id, r] of permissions) {
      const p = r.Properties;
      const arn = JSON.stringify(p.SourceArn ?? '');
      if (p.Principal !== 'apigateway.amazonaws.com') problems.push(`${id}: principal ${p.Principal}`);
      if (!arn.includes(`"Ref":"${apiId}"`)) problems.push(`${id}: SourceArn not scoped to the API`);
      const route = /\/\*\/\*(\/[^"]*)"\]\]\}"?$/.exec(arn)?.[1];
      if (route === undefined || !routePaths.has(route)) problems.push(`${id}: SourceArn route ${route}`);
    }
    if (resources.some(([, r]) => r.Type === 'AWS::Lambda::Url')) problems.push('a function URL exists');
    for (const [id, r] of resources.filter(([, x]) => x.Type === 'AWS::IAM::Role')) {
      for (const s of r.Properties.AssumeRolePolicyDocument.Statement as Json[]) if (!s.Principal?.Service || s.Principal.AWS) problems.push(`${id} trusts ${JSON.stringify(s.Principal)}`);
    }
    const row = table.record({
      area: 'CDK',
      input: `${permissions.length} Lambda permissions, function URLs, role trust policies`,
      expected: 'only this API, per route; no function URL; only service principals',
      observed: problems.length === 0 ? 'only this API, per route; no function URL; only service principals' : problems.join('; '),
    });
    expect(permissions.length).toBe(ROUTES.length);
    expect(row.observed).toBe(row.expected);
  });

});
