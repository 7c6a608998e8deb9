// NativeError and errnoCode on their own: pure TypeScript, no addon needed.
import test from 'ava';
import os from 'node:os';

import { NativeError, errnoCode } from '../../server/native';

test('errnoCode names errnos as Node fs errors do', (t) => {
  t.is(errnoCode(2), 'ENOENT');
  t.is(errnoCode(os.constants.errno.EBUSY), 'EBUSY');
  t.is(errnoCode(os.constants.errno.EINVAL), 'EINVAL');
  t.is(errnoCode(os.constants.errno.EACCES), 'EACCES');
  // Aliases: the name libuv reports wins.
  t.is(errnoCode(os.constants.errno.EAGAIN), 'EAGAIN');
  t.is(errnoCode(os.constants.errno.ENOTSUP), 'ENOTSUP');
  t.is(errnoCode(9999), 'E9999');
});

test('NativeError carries code, positive errno, syscall and path, with a Node-style message', (t) => {
  const path = '/sys/fs/cgroup/memory/x/memory.limit_in_bytes';
  const error = new NativeError(os.constants.errno.EBUSY, 'write', path, 'Device or resource busy');
  t.true(error instanceof Error);
  t.is(error.name, 'NativeError');
  t.is(error.code, 'EBUSY');
  t.is(error.errno, os.constants.errno.EBUSY);
  t.is(error.syscall, 'write');
  t.is(error.path, path);
  t.is(error.message, `EBUSY: Device or resource busy, write '${path}'`);
  t.regex(String(error.stack), /^NativeError: EBUSY/);
});

test('NativeError without a path or description leaves path out and uses libuv wording', (t) => {
  const error = new NativeError(os.constants.errno.ENOMEM, 'malloc');
  t.false('path' in error);
  t.is(error.code, 'ENOMEM');
  t.regex(error.message, /^ENOMEM: .+, malloc$/);
});
