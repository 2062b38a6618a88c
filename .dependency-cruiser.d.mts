// Types for .dependency-cruiser.mjs, which stays JavaScript so `npx depcruise` reads it without a build.
import type { IConfiguration } from 'dependency-cruiser';

export declare const forbidden: NonNullable<IConfiguration['forbidden']>;
declare const configuration: IConfiguration;
export default configuration;
