export * from './types';
export * from './bus';
