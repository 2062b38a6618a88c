import { describe, expect, it } from 'vitest';
import { skipAllWhen } from '../support/skipWithReason.js';
import { CHINA_CLOUD, PUBLIC_CLOUD, type CloudEnvironment } from './armDeployment.js';
import { skipWithoutBicep, type Json } from './armTemplate.js';
import { deployMain, representativeOutputs } from './deployedInfra.js';

/**
 * main.bicep's privateNetworking, compiled and evaluated both ways: off, nothing changes from a
 * public deployment; on, a virtual network whose app subnet is delegated to Flex Consumption,
 * private endpoints and private DNS zones for the storage services and Key Vault, and their public
 * network access refused.
 */

const skip = skipWithoutBicep();
const outputs = representativeOutputs();

const storageAccountOf = (parameters: Record<string, unknown>) =>
  deployMain(parameters).resource('storage').module().resource('storageAccount').properties();
const vaultOf = (parameters: Record<string, unknown>) =>
  deployMain(parameters).resource('keyVault').module().resource('Microsoft.KeyVault/vaults').properties();
const siteOf = (parameters: Record<string, unknown>) =>
  deployMain(parameters).resource('functionApp').module().resource('Microsoft.Web/sites').properties();

describe('privateNetworking', () => {
  skipAllWhen(skip);
  it('is off by default: no network, no private endpoint, storage and vault public, the app not integrated', () => {
    const deployment = deployMain();
    expect(deployment.parameters.privateNetworking).toBe(false);
    expect(deployment.resources().filter((r) => /network|privateEndpoint/i.test(r.symbolicName))).toEqual([]);
    expect(storageAccountOf({})).toMatchObject({ publicNetworkAccess: 'Enabled', networkAcls: { defaultAction: 'Allow' } });
    expect(vaultOf({})).toMatchObject({ publicNetworkAccess: 'Enabled', networkAcls: { defaultAction: 'Allow' } });
    expect(siteOf({}).virtualNetworkSubnetId).toBeNull();
  });

  it('on: the app is integrated with a subnet delegated to the Flex Consumption plan, after its endpoints exist', () => {
    const deployment = deployMain({ privateNetworking: true });
    const network = deployment.resource('network').module();
    const vnet = network.resource('Microsoft.Network/virtualNetworks').properties() as { subnets: { name: string; properties: Json }[] };
    const app = vnet.subnets.find((s) => s.name === 'app')!;
    expect(app.properties.delegations).toEqual([{ name: 'flex-consumption', properties: { serviceName: 'Microsoft.App/environments' } }]);
    expect(vnet.subnets.map((s) => s.name).sort()).toEqual(['app', 'private-endpoints']);
    expect(network.output('appSubnetId')).toMatch(/\/virtualNetworks\/vnet-[a-z0-9]+\/subnets\/app$/);
    expect(siteOf({ privateNetworking: true }).virtualNetworkSubnetId).toBe(outputs.network!.appSubnetId);
    expect(deployment.resource('functionApp').dependsOn).toContain('privateEndpoint');
  });

  it('on: storage and the vault refuse public traffic', () => {
    for (const properties of [storageAccountOf({ privateNetworking: true }), vaultOf({ privateNetworking: true })]) {
      expect(properties).toMatchObject({ publicNetworkAccess: 'Disabled', networkAcls: { defaultAction: 'Deny' } });
    }
  });

  it.each<[string, CloudEnvironment, string[]]>([
    [
      'public cloud',
      PUBLIC_CLOUD,
      [
        'privatelink.blob.core.windows.net',
        'privatelink.queue.core.windows.net',
        'privatelink.table.core.windows.net',
        'privatelink.vaultcore.azure.net',
      ],
    ],
    [
      'Azure China',
      CHINA_CLOUD,
      [
        'privatelink.blob.core.chinacloudapi.cn',
        'privatelink.queue.core.chinacloudapi.cn',
        'privatelink.table.core.chinacloudapi.cn',
        'privatelink.vaultcore.azure.cn',
      ],
    ],
  ])(
    "on (%s): one private endpoint per service, each registered in that service's private DNS zone, linked to the network",
    (_cloud, cloud, zones) => {
      const deployment = deployMain({ privateNetworking: true }, cloud);
      const network = deployment.resource('network').module();
      const zoneNames = network
        .resources()
        .filter((r) => r.type === 'Microsoft.Network/privateDnsZones')
        .map((r) => r.name);
      expect(zoneNames).toEqual(zones);
      const links = network.resources().filter((r) => r.type === 'Microsoft.Network/privateDnsZones/virtualNetworkLinks');
      expect(links.map((l) => String(l.name).split('/')[0])).toEqual(zones);
      for (const link of links) expect(link.properties()).toMatchObject({ registrationEnabled: false });
      // The zone ids the endpoints are given are the zones created, by service.
      const zoneIds = network.output('zoneIds') as Record<string, string>;
      expect(Object.values(zoneIds).map((id) => id.split('/').pop())).toEqual(zones);

      const endpoints = deployment.resources().filter((r) => r.symbolicName === 'privateEndpoint');
      const targets = endpoints.map((endpoint) => {
        const parameters = endpoint.module().parameters;
        const inner = endpoint.module().resource('Microsoft.Network/privateEndpoints').properties() as {
          privateLinkServiceConnections: { properties: { groupIds: string[]; privateLinkServiceId: string } }[];
          subnet: { id: string };
        };
        const zoneGroup = endpoint.module().resource('Microsoft.Network/privateEndpoints/privateDnsZoneGroups').properties() as {
          privateDnsZoneConfigs: { properties: { privateDnsZoneId: string } }[];
        };
        expect(inner.subnet.id).toBe(outputs.network!.privateEndpointSubnetId);
        expect(zoneGroup.privateDnsZoneConfigs[0]!.properties.privateDnsZoneId).toBe(
          (outputs.network!.zoneIds as Record<string, string>)[String(parameters.groupId)],
        );
        const connection = inner.privateLinkServiceConnections[0]!.properties;
        return [connection.groupIds.join(), connection.privateLinkServiceId];
      });
      expect(targets).toEqual([
        ['blob', outputs.storage!.resourceId],
        ['queue', outputs.storage!.resourceId],
        ['table', outputs.storage!.resourceId],
        ['vault', outputs.keyVault!.resourceId],
      ]);
    },
  );
});
