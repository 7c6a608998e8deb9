export * from './cgroup';
export * from './container';
export * from './snapshot';
