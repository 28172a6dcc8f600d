/** Asks before a destructive action (the browser's own dialog: keyboard- and reader-friendly). */
export function confirmed(question: string): boolean {
  return window.confirm(question);
}
