/** A fenced yaml block of a docs page between `<!-- name:start -->` and `<!-- name:end -->`, so a test runs what the page shows. */
export function yamlBlock(doc: string, marker: string, page: string): string {
  const block = new RegExp(`<!-- ${marker}:start -->\\n\`\`\`yaml\\n([\\s\\S]*?)\`\`\`\\n<!-- ${marker}:end -->`).exec(doc);
  if (!block) throw new Error(`${page} has no yaml block between <!-- ${marker}:start/end --> markers`);
  return block[1]!;
}
