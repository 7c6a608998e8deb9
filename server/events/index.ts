export * from './types';
export * from './bus';
export * from './log';
export * from './filter';
export * from './time';
