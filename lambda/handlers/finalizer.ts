// Placeholder entry so the stack synthesizes while the handler is being written (replaced by the handlers work).
export const handler = async (_event: unknown): Promise<never> => {
  throw new Error('finalizer: not implemented yet');
};
