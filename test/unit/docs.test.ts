// The documents stay findable: every relative link in the README, docs/ and the READMEs beside the
// code reaches a file (and a heading, for #anchors), the README stays short, and `npm run bench`
// has its place in docs/performance.md (its table, between markers, nowhere else).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Results } from '../bench/harness.js';
import { SECTION_BEGIN, SECTION_END, replaceSection, report } from '../bench/report.js';

const root = resolve(import.meta.dirname, '../..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');
const DOCUMENTS = [
  'README.md',
  'docs/README.md',
  'docs/library.md',
  'docs/embedding.md',
  'docs/deployment.md',
  'docs/reliability.md',
  'docs/performance.md',
  'bridge/README.md',
  'bridge/nginx/README.md',
  'wasm/README.md',
  'web/components/README.md',
  'test/README.md',
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
const slug = (heading: string): string =>
  heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');

const headings = (markdown: string): string[] =>
  [...markdown.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!));

describe('documents', () => {
  test('relative-links-reach-files-and-headings', () => {
    const broken: string[] = [];
    for (const doc of DOCUMENTS) {
      const text = read(doc).replace(/```[\s\S]*?```/g, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue; // https:, mailto:
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const file = path === '' ? join(root, doc) : join(root, dirname(doc), decodeURI(path));
        if (!existsSync(file)) broken.push(`${doc}: ${target} (no such file)`);
        else if (anchor && statSync(file).isFile() && !headings(readFileSync(file, 'utf8')).includes(anchor)) {
          broken.push(`${doc}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  test('readme-stays-under-about-12-kb', () => {
    expect(statSync(join(root, 'README.md')).size).toBeLessThanOrEqual(12_300);
  });
});

describe('the bench in docs/performance.md', () => {
  const doc = read('docs/performance.md');

  test('performance-md-holds-the-table-of-results-json-between-its-markers', () => {
    const results = JSON.parse(read('test/bench/results.json')) as Results;
    expect(doc.split(SECTION_BEGIN)).toHaveLength(2);
    expect(doc.split(SECTION_END)).toHaveLength(2);
    const section = doc.slice(doc.indexOf(SECTION_BEGIN), doc.indexOf(SECTION_END));
    expect(section).toContain(report(results));
    expect(read('README.md')).not.toContain(SECTION_BEGIN);
  });

  test('bench-replaces-only-what-lies-between-the-markers', () => {
    const out = replaceSection(doc, 'NEW TABLE');
    const [before, rest] = doc.split(SECTION_BEGIN) as [string, string];
    const after = rest.slice(rest.indexOf(SECTION_END));
    expect(out).toBe(`${before}${SECTION_BEGIN}\n\nNEW TABLE\n\n${after}`);
    expect(replaceSection(out, 'NEWER')).toBe(`${before}${SECTION_BEGIN}\n\nNEWER\n\n${after}`);
  });

  test('bench-refuses-a-document-without-its-markers', () => {
    expect(() => replaceSection('# Performance\n', 'T')).toThrow(/docs\/performance\.md: expected one/);
    expect(() => replaceSection(`${SECTION_END}\n${SECTION_BEGIN}\n`, 'T')).toThrow(/expected one/);
    expect(() => replaceSection(`${SECTION_BEGIN}\n${SECTION_BEGIN}\n${SECTION_END}\n`, 'T')).toThrow(/expected one/);
  });
});
