import { humanOperationTool } from './human-operation-tool.js';

export const rotateSecretTool = humanOperationTool('rotate', 'rotation');
