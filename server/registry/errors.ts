/**
 * Pull failures. A RegistryError is a RuntimeError (HTTP status + stable code) so the API answers
 * without knowing about registries:
 *   400 invalid_reference, invalid_platform, bad_manifest, digest_mismatch, insecure_registry
 *   401 registry_unauthorized (the registry refused; the message says to log in)
 *   404 manifest_unknown
 *   502 registry_error (the registry answered with an unexpected status), truncated_blob
 *   504 registry_timeout (nothing arrived for the stall time-out)
 */
import { RuntimeError } from '../runtime/errors';

export class RegistryError extends RuntimeError {
  override name = 'RegistryError';
}
