/**
 * The hosted product's own clients, unchanged, against our `serve --http` whose backend is the
 * `ass` adapter in front of a second instance: every tool
 * of @agentsecretstore/mcp through a real MCP client, every AgentVault method and error class
 * of @agentsecretstore/sdk. A missing peer fails loudly, naming its install script.
 */
import { describeMissingPeer } from '../helpers/peer-common.js';
import { HOSTED_CLIENTS_INSTALL, hostedClients } from '../helpers/hosted-clients.js';
import { hostedMcpScenarios, hostedSdkScenarios } from '../helpers/hosted-scenarios.js';

const clients = hostedClients();
if ('missing' in clients) {
  describeMissingPeer('hosted clients → via-ass', clients.missing, `bash ${HOSTED_CLIENTS_INSTALL}`);
} else {
  hostedMcpScenarios('via-ass', clients);
  hostedSdkScenarios('via-ass', clients);
}
