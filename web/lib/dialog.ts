/**
 * Confirmation in a modal <dialog>: focus moves into it, Escape cancels, and focus returns to
 * where it was. Resolves true when confirmed.
 */
import { h, type Child } from './dom';

export function confirmDialog(options: { title: string; body: Child | Child[]; confirm: string; danger?: boolean; id?: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const previous = document.activeElement as HTMLElement | null;
    const confirm = h('button', { type: 'submit', value: 'confirm', class: options.danger ? 'danger' : 'primary' }, options.confirm);
    const cancel = h('button', { type: 'submit', value: 'cancel', formnovalidate: true }, 'Cancel');
    const titleId = `${options.id ?? 'confirm'}-title`;
    const dialog = h(
      'dialog',
      { class: 'dialog', id: options.id ?? 'confirm-dialog', 'aria-labelledby': titleId },
      h('form', { method: 'dialog' }, h('h2', { id: titleId }, options.title), h('div', { class: 'dialog-body' }, options.body), h('div', { class: 'dialog-actions' }, cancel, confirm)),
    );
    document.body.appendChild(dialog);
    dialog.addEventListener('close', () => {
      const confirmed = dialog.returnValue === 'confirm';
      dialog.remove();
      previous?.focus();
      resolve(confirmed);
    });
    dialog.showModal();
    confirm.focus();
  });
}
