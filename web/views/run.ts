/**
 * The run form (operators): what `capstan run -d` takes, on an image or on the host's root
 * filesystem (read-only, with its own /tmp). The agent validates; its message is shown as is.
 */
import type { ImageRecord } from '../../server/runtime/images/types';
import { api, messageOf } from '../lib/api';
import { h, replaceChildren, setText, uniqueId } from '../lib/dom';
import { toast } from '../lib/toast';
import type { AppContext, View } from './view';


/**
 * Splits a command line into arguments the way a shell would for simple cases: spaces separate,
 * single and double quotes group, a backslash escapes the next character. No expansion.
 */
export function splitCommand(text: string): string[] {
  const args: string[] = [];
  let current = '';
  let quote: '"' | "'" | undefined;
  let started = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      started = true;
    } else if (c === '\\' && i + 1 < text.length) {
      current += text[++i];
      started = true;
    } else if (/\s/.test(c)) {
      if (started) args.push(current);
      current = '';
      started = false;
    } else {
      current += c;
      started = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in the command`);
  if (started) args.push(current);
  return args;
}

export function runView(ctx: AppContext): View {
  const field = (label: string, input: HTMLInputElement | HTMLSelectElement, hint?: string): HTMLElement => {
    input.id ||= uniqueId('run');
    const hintId = hint ? uniqueId('hint') : undefined;
    if (hintId) input.setAttribute('aria-describedby', hintId);
    return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, hint ? h('span', { class: 'muted small', id: hintId }, hint) : null);
  };
  const rootfsHost = h('input', { type: 'radio', name: 'rootfs', value: 'host', checked: true, id: 'run-rootfs-host' });
  const rootfsImage = h('input', { type: 'radio', name: 'rootfs', value: 'image', id: 'run-rootfs-image' });
  const image = h('input', { type: 'text', name: 'image', id: 'run-image', list: 'run-images', placeholder: 'busybox:latest', disabled: true, autocomplete: 'off' });
  const images = h('datalist', { id: 'run-images' });
  const command = h('input', { type: 'text', name: 'command', id: 'run-command', placeholder: 'python3 -m http.server 8000', required: true, autocomplete: 'off', spellcheck: 'false' });
  const name = h('input', { type: 'text', name: 'name', id: 'run-name', placeholder: 'generated when empty', autocomplete: 'off' });
  const cpus = h('input', { type: 'text', name: 'cpus', id: 'run-cpus', placeholder: 'e.g. 0.5', inputmode: 'decimal', autocomplete: 'off' });
  const memory = h('input', { type: 'text', name: 'memory', id: 'run-memory', placeholder: 'e.g. 64m', autocomplete: 'off' });
  const ports = h('input', { type: 'text', name: 'ports', id: 'run-ports', placeholder: '8080:8000', autocomplete: 'off' });
  const error = h('div', { class: 'form-error', id: 'run-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Run');

  const syncRootfs = (): void => {
    image.disabled = !rootfsImage.checked;
    image.required = rootfsImage.checked;
  };
  rootfsHost.addEventListener('change', syncRootfs);
  rootfsImage.addEventListener('change', syncRootfs);

  const form = h(
    'form',
    { id: 'run-form', class: 'run-form', novalidate: true },
    h(
      'fieldset',
      null,
      h('legend', null, 'Root filesystem'),
      h('label', { class: 'check' }, rootfsHost, ' The host’s, read-only (own /tmp)'),
      h('label', { class: 'check' }, rootfsImage, ' An image'),
      field('Image', image, 'an imported image (capstan image import)'),
      images,
    ),
    field('Command', command, 'arguments split like a shell would, without expansion'),
    field('Name', name),
    h('div', { class: 'field-row' }, field('CPUs', cpus), field('Memory', memory)),
    field('Ports', ports, 'HOSTPORT:CONTAINERPORT, several separated by spaces or commas; bound on 127.0.0.1'),
    error,
    h('div', { class: 'form-actions' }, submit),
  );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.hidden = true;
    let cmd: string[];
    try {
      cmd = splitCommand(command.value);
    } catch (problem) {
      replaceChildren(error, messageOf(problem));
      error.hidden = false;
      return;
    }
    const body: Record<string, unknown> = {};
    if (rootfsImage.checked) body['image'] = image.value.trim();
    if (cmd.length > 0) body['cmd'] = cmd;
    if (name.value.trim()) body['name'] = name.value.trim();
    if (cpus.value.trim()) body['cpus'] = cpus.value.trim();
    if (memory.value.trim()) body['memory'] = memory.value.trim();
    const publish = ports.value.split(/[\s,]+/).filter(Boolean);
    if (publish.length > 0) body['publish'] = publish;
    submit.disabled = true;
    api<{ Id: string; Warnings: string[] }>('/api/v1/containers?start=1', { method: 'POST', body }).then(
      (created) => {
        toast('success', 'Started', [`Container ${created.Id.slice(0, 12)} is running.`, ...created.Warnings.map((w) => ` ${w}`)]);
        location.hash = `#/containers/${encodeURIComponent(created.Id)}`;
      },
      (problem: unknown) => {
        replaceChildren(error, messageOf(problem));
        error.hidden = false;
        submit.disabled = false;
      },
    );
  });

  const element = h('div', { class: 'view run' }, h('section', { class: 'panel narrow', 'aria-labelledby': 'run-heading' }, h('h1', { id: 'run-heading' }, 'Run a container'), form));
  const status = h('p', { class: 'muted' });
  if (ctx.role !== 'operator') {
    replaceChildren(element, h('section', { class: 'panel narrow' }, h('h1', null, 'Run a container'), h('p', null, 'Running containers needs an operator token.')));
  } else {
    api<{ images: ImageRecord[] }>('/api/v1/images').then(
      (answer) => {
        const tags = answer.images.flatMap((i) => i.repoTags);
        replaceChildren(images, ...tags.map((tag) => h('option', { value: tag })));
        setText(status, tags.length ? '' : 'No images imported yet: run on the host’s filesystem, or import one with capstan image import.');
      },
      () => setText(status, ''),
    );
    form.prepend(status);
  }
  return { element, title: 'Capstan: run', dispose() {} };
}
