/**
 * The hosted product's own clients, unchanged, against our `serve --http` (direct): every tool
 * of @agentsecretstore/mcp through a real MCP client, every AgentVault method and error class
 * of @agentsecretstore/sdk. A missing peer fails loudly, naming its install script.
 */
import { describeMissingPeer } from '../helpers/peer-common.js';
import { HOSTED_CLIENTS_INSTALL, hostedClients } from '../helpers/hosted-clients.js';
import { hostedMcpScenarios, hostedSdkScenarios } from '../helpers/hosted-scenarios.js';

const clients = hostedClients();
if ('missing' in clients) {
  describeMissingPeer('hosted clients → direct', clients.missing, `bash ${HOSTED_CLIENTS_INSTALL}`);
} else {
  hostedMcpScenarios('direct', clients);
  hostedSdkScenarios('direct', clients);
}
