import { humanOperationTool } from './human-operation-tool.js';

export const deleteSecretTool = humanOperationTool('delete', 'deletion');
