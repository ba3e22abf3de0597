export async function run(argv: string[]): Promise<number> {
  console.log('cli', argv.slice(2).join(' '));
  return 0;
}
