#!/usr/bin/env node
'use strict';
// Generates the README's metrics table from the agent's own registry (describeMetrics() in
// server/metrics), so the documented names, types, units, labels and cgroup-version availability
// are the ones /metrics serves and cannot drift.
//
//   node scripts/metrics-table.js           print the table
//   node scripts/metrics-table.js --write   rewrite the block between the README markers
//   node scripts/metrics-table.js --check   exit 1 when the README block differs from the registry
//
// Reads the compiled registry (build/server/metrics/index.js): run `npm run build` first.
const fs = require('node:fs');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..');
const README = path.join(REPO, 'README.md');
const REGISTRY = path.join(REPO, 'build', 'server', 'metrics', 'index.js');
const START = '<!-- metrics-table:start -->';
const END = '<!-- metrics-table:end -->';

/** A Markdown table cell: pipes would end the cell and newlines the row. */
function cell(text) {
  return String(text).replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** The table for `descriptions` (describeMetrics()'s entries), one row per family, in registry order. */
function renderMetricsTable(descriptions) {
  const rows = [
    '| Metric | Type | Unit | Labels | cgroup v1 | cgroup v2 | Description |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const d of descriptions) {
    const labels = d.labels.length === 0 ? '' : d.labels.map((label) => `\`${label}\``).join(', ');
    rows.push(
      `| \`${d.name}\` | ${d.type} | ${cell(d.unit)} | ${labels} | ${d.v1 ? 'yes' : 'no'} | ${d.v2 ? 'yes' : 'no'} | ${cell(d.help)} |`,
    );
  }
  return rows.join('\n') + '\n';
}

/** The text between the markers, or undefined when the README has no (well-formed) block. */
function extractBlock(readme) {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start === -1 || end === -1 || end < start) return undefined;
  return readme.slice(start + START.length, end).replace(/^\n/, '');
}

/** `readme` with the block between the markers replaced by `table`; throws when the markers are missing. */
function replaceBlock(readme, table) {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start === -1 || end === -1 || end < start) {
    throw new Error(`README.md has no "${START}" ... "${END}" block`);
  }
  return readme.slice(0, start + START.length) + '\n' + table + readme.slice(end);
}

function loadDescriptions() {
  if (!fs.existsSync(REGISTRY)) {
    throw new Error(`${path.relative(REPO, REGISTRY)} is missing: run "npm run build" first`);
  }
  return require(REGISTRY).describeMetrics();
}

function main(argv) {
  const table = renderMetricsTable(loadDescriptions());
  if (argv.includes('--write')) {
    // Read right before writing: other edits to the README must survive.
    const readme = fs.readFileSync(README, 'utf8');
    const updated = replaceBlock(readme, table);
    if (updated !== readme) fs.writeFileSync(README, updated);
    console.error(updated === readme ? 'README.md metrics table is up to date' : 'README.md metrics table rewritten');
    return 0;
  }
  if (argv.includes('--check')) {
    const current = extractBlock(fs.readFileSync(README, 'utf8'));
    if (current === undefined) {
      console.error(`README.md has no "${START}" ... "${END}" block`);
      return 1;
    }
    if (current !== table) {
      console.error('README.md metrics table differs from the registry: run "node scripts/metrics-table.js --write"');
      return 1;
    }
    return 0;
  }
  process.stdout.write(table);
  return 0;
}

module.exports = { renderMetricsTable, extractBlock, replaceBlock, START, END };

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    console.error(`metrics-table: ${error.message}`);
    process.exitCode = 2;
  }
}
