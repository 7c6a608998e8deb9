// The shipped dashboard (build/web, made by scripts/build.js): under its size budget, and made of
// nothing the content security policy would block (no inline script or style, no eval).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { REPO_ROOT } from '../helpers/repo';

const WEB = path.join(REPO_ROOT, 'build', 'web');
/** The budget for the JavaScript a browser downloads, gzipped. Units: bytes. */
const BUDGET_BYTES = 300 * 1024;

const shipped = (extension: string): string[] =>
  fs.existsSync(WEB) ? fs.readdirSync(WEB).filter((name) => name.endsWith(extension)).map((name) => path.join(WEB, name)) : [];

test('the shipped JavaScript is under 300 KB gzipped', (t) => {
  const scripts = shipped('.js');
  t.true(scripts.length > 0, 'build/web has the bundle (npm test builds it)');
  const gzipped = scripts.reduce((sum, file) => sum + gzipSync(fs.readFileSync(file), { level: 9 }).length, 0);
  t.log(`${scripts.map((f) => path.basename(f)).join(', ')}: ${(gzipped / 1024).toFixed(1)} KiB gzipped`);
  t.true(gzipped < BUDGET_BYTES, `${gzipped} bytes gzipped`);
});

test('the page has no inline scripts or styles, and the bundle no eval', (t) => {
  const html = fs.readFileSync(path.join(WEB, 'index.html'), 'utf8');
  t.notRegex(html, /<script(?![^>]*\ssrc=)[^>]*>/i, 'every <script> has a src');
  t.notRegex(html, /<style|\sstyle=|\son[a-z]+=/i, 'no <style>, style= or on*= handlers');
  for (const file of shipped('.js')) {
    const code = fs.readFileSync(file, 'utf8');
    t.false(/\bnew Function\(|\beval\(/.test(code), `${path.basename(file)} needs no 'unsafe-eval'`);
    t.false(/\.innerHTML\s*=/.test(code), `${path.basename(file)} never assigns innerHTML`);
  }
});
