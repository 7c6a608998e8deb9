/** `capstan images [OPTIONS] [REPOSITORY[:TAG]]`: docker's `images`, the same as `capstan image ls`. */
import { IMAGES_FLAGS, listImages } from './image';
import type { Command } from './types';

export const imagesCommand: Command = {
  name: 'images',
  summary: 'List images',
  usage: 'images [OPTIONS] [REPOSITORY[:TAG]]',
  flags: IMAGES_FLAGS,
  run: (ctx, args) => listImages(ctx, args, 'images'),
};
