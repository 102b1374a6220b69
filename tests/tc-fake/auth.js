// Hawk authentication and scope checks, ported from Taskcluster.
//
// Two pieces of the real platform, kept in the same shape so that they can
// be compared line by line with their sources (taskcluster/taskcluster):
//
//  * createSignatureValidator: services/auth/src/signaturevalidator.js
//    (parseExt, limitClientWithExt, createSignatureValidator).  It checks a
//    Hawk header or a bewit with the real `hawk` package, applies
//    ext.certificate (temporary credentials) and ext.authorizedScopes, and
//    grants `assume:anonymous` to every caller, as the auth service does
//    since RFC 165.
//
//  * authenticateRequest / Authorizer: libraries/api/src/middleware/auth.js
//    (remoteAuthentication): refuses a request that carries both a header
//    and a bewit, finds host and port (X-Forwarded-Port/-Proto included),
//    checks a payload hash only when the header carries one, and turns the
//    result into 401 AuthenticationFailed / 403 InsufficientScopes.
//
// Nothing here knows about sepworker.
import crypto from 'node:crypto';
import hawk from 'hawk';
import scopeUtils from 'taskcluster-lib-scopes';

const parseExt = ext => {
  try {
    return JSON.parse(Buffer.from(ext, 'base64').toString('utf-8'));
  } catch (err) {
    throw new Error('Failed to parse ext');
  }
};

const limitClientWithExt = (credentialName, issuingClientId, accessToken, scopes,
  expires, ext, expandScopes, certSkewMs) => {
  const issuingScopes = scopes;
  const res = { scopes, expires, accessToken };

  if (ext.certificate) {
    const cert = ext.certificate;
    if (!(cert instanceof Object)) {
      throw new Error('ext.certificate must be a JSON object');
    }
    if (cert.version !== 1) {
      throw new Error('ext.certificate.version must be 1');
    }
    if (typeof cert.seed !== 'string') {
      throw new Error('ext.certificate.seed must be a string');
    }
    if (cert.seed.length !== 44) {
      throw new Error('ext.certificate.seed must be 44 characters');
    }
    if (typeof cert.start !== 'number') {
      throw new Error('ext.certificate.start must be a number');
    }
    if (typeof cert.expiry !== 'number') {
      throw new Error('ext.certificate.expiry must be a number');
    }
    if (!(cert.scopes instanceof Array)) {
      throw new Error('ext.certificate.scopes must be an array');
    }
    if (!cert.scopes.every(scopeUtils.validScope)) {
      throw new Error('ext.certificate.scopes must be an array of valid scopes');
    }

    // start and expiry, with 5 minutes of tolerance either way (the
    // auth service's; certSkewMs)
    const now = new Date().getTime();
    if (cert.start > now + certSkewMs) {
      throw new Error('ext.certificate.start > now');
    }
    if (cert.expiry < now - certSkewMs) {
      throw new Error('ext.certificate.expiry < now');
    }
    if (cert.expiry - cert.start > 31 * 24 * 60 * 60 * 1000) {
      throw new Error('ext.certificate cannot last longer than 31 days!');
    }

    // named credentials: the issuer must be allowed to create that client
    if (issuingClientId !== credentialName) {
      const createScope = 'auth:create-client:' + credentialName;
      if (!scopeUtils.satisfiesExpression(issuingScopes, createScope)) {
        throw new Error('ext.certificate issuer `' + issuingClientId +
                        '` doesn\'t have `' + createScope + '` for supplied clientId.');
      }
    } else if ('clientId' in cert) {
      throw new Error('ext.certificate.clientId must only be used with ext.certificate.issuer');
    }

    // the issuer's scopes must satisfy the certificate's
    if (!scopeUtils.satisfiesExpression(scopes, { AllOf: cert.scopes })) {
      throw new Error('ext.certificate issuer `' + issuingClientId +
                      '` doesn\'t satisfy all certificate scopes ' +
                      cert.scopes.join(', ') + '.  The temporary ' +
                      'credentials were not generated correctly.');
    }

    // the signed text (reference §3.5): no trailing newline
    let sigContent = [];
    sigContent.push('version:' + '1');
    if (cert.issuer) {
      sigContent.push('clientId:' + credentialName);
      sigContent.push('issuer:' + cert.issuer);
    }
    sigContent.push('seed:' + cert.seed);
    sigContent.push('start:' + cert.start);
    sigContent.push('expiry:' + cert.expiry);
    sigContent.push('scopes:');
    sigContent = sigContent.concat(cert.scopes);
    const signature = crypto.createHmac('sha256', accessToken)
      .update(sigContent.join('\n'))
      .digest('base64');

    // (a length mismatch makes timingSafeEqual throw; the auth service
    // reports that throw as the failure message, and so does this port)
    if (typeof cert.signature !== 'string' ||
        !crypto.timingSafeEqual(Buffer.from(cert.signature), Buffer.from(signature))) {
      if (cert.issuer) {
        throw new Error('ext.certificate.signature is not valid, or wrong clientId provided');
      } else {
        throw new Error('ext.certificate.signature is not valid');
      }
    }

    // the temporary key the Hawk MAC is checked with
    const temporaryKey = crypto.createHmac('sha256', accessToken)
      .update(cert.seed)
      .digest('base64')
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=/g, '');

    res.accessToken = temporaryKey;
    const certExpires = new Date(cert.expiry);
    if (res.expires > certExpires) {
      res.expires = certExpires;
    }
    res.scopes = scopes = cert.scopes;
  }

  if (ext.authorizedScopes) {
    if (!(ext.authorizedScopes instanceof Array)) {
      throw new Error('ext.authorizedScopes must be an array');
    }
    if (!ext.authorizedScopes.every(scopeUtils.validScope)) {
      throw new Error('ext.authorizedScopes must be an array of valid scopes');
    }

    // anonymous is granted before the check, so that scopes the client
    // only has through the anonymous role may be authorized
    res.scopes = scopeUtils.mergeScopeSets(res.scopes, ['assume:anonymous']);
    res.scopes = expandScopes(res.scopes);

    if (!scopeUtils.satisfiesExpression(res.scopes, { AllOf: ext.authorizedScopes })) {
      throw new Error([
        'Supplied credentials do not satisfy authorizedScopes; credentials have scopes:',
        '',
        '```',
        res.scopes.join('\n'),
        '```',
        '',
        'authorizedScopes are:',
        '',
        '```',
        ext.authorizedScopes.join('\n'),
        '```',
      ].join('\n'));
    }

    res.scopes = scopes = ext.authorizedScopes;
  }
  return res;
};

// clientLoader: async clientId => {clientId, expires, accessToken, scopes}
// (scopes already expanded), throwing when the client is unknown.
// expandScopes: scopes => scopes with roles expanded (identity by default,
// as for the auth service's test endpoints).
// certSkewMs: how far a certificate's start may lie ahead and its expiry
// behind; the auth service's 5 minutes unless a test needs expiry seen
// sooner (tc-fake's --cert-skew-ms).
export const createSignatureValidator = ({ clientLoader, expandScopes,
  certSkewMs = 5 * 60 * 1000 }) => {
  if (!expandScopes) {
    expandScopes = scopes => scopes;
  }

  const loadCredentials = async (clientId, ext) => {
    // credentialName: the id in the Authorization header (or bewit);
    // issuingClientId: the one that signed a named certificate
    const credentialName = clientId;
    let issuingClientId = clientId;

    if (ext) {
      ext = parseExt(ext);
      if (ext.certificate && ext.certificate.issuer) {
        issuingClientId = ext.certificate.issuer;
        if (typeof issuingClientId !== 'string') {
          throw new Error('ext.certificate.issuer must be a string');
        }
        if (issuingClientId === credentialName) {
          throw new Error('ext.certificate.issuer must differ from the supplied clientId');
        }
      }
    }

    let accessToken, scopes, expires;
    ({ expires, accessToken, scopes } = await clientLoader(issuingClientId));

    if (ext) {
      ({ scopes, expires, accessToken } = limitClientWithExt(
        credentialName, issuingClientId, accessToken,
        scopes, expires, ext, expandScopes, certSkewMs));
    }

    // anonymous a second time: authorizedScopes may have dropped it
    scopes = scopeUtils.mergeScopeSets(scopes, ['assume:anonymous']);
    scopes = expandScopes(scopes);

    return {
      key: accessToken,
      algorithm: 'sha256',
      clientId: credentialName,
      expires,
      scopes,
    };
  };

  // req: {method, resource, host, port, authorization}
  return async req => {
    let credentials, attributes, result;
    try {
      if (req.authorization) {
        const authResult = await hawk.server.authenticate({
          method: req.method.toUpperCase(),
          url: req.resource,
          host: req.host,
          port: req.port,
          authorization: req.authorization,
        }, async clientId => {
          let ext = undefined;
          const attrs = hawk.utils.parseAuthorizationHeader(req.authorization);
          if (!(attrs instanceof Error)) {
            ext = attrs.ext;
          }
          return loadCredentials(clientId, ext);
        }, {
          // no payload here: the middleware checks a hash when one is sent
          timestampSkewSec: 15 * 60,
        });
        credentials = authResult.credentials;
        attributes = authResult.artifacts;
      } else if (/^\/.*[?&]bewit=/.test(req.resource)) {
        const authResult = await hawk.uri.authenticate({
          method: req.method.toUpperCase(),
          url: req.resource,
          host: req.host,
          port: req.port,
        }, async clientId => {
          let ext = undefined;
          const parts = req.resource.match(/^(\/.*)([?&])bewit=([^&$]*)(?:&(.+))?$/);
          let bewitString;
          try {
            if (!/^[\w-]*$/.test(parts[3])) {
              throw new Error('invalid character in bewit');
            }
            bewitString = Buffer.from(parts[3], 'base64').toString('binary');
          } catch (err) {
            bewitString = err;
          }
          if (!(bewitString instanceof Error)) {
            const bparts = bewitString.split('\\');
            if (bparts.length === 4 && bparts[3]) {
              ext = bparts[3];
            }
          }
          return loadCredentials(clientId, ext);
        }, {});
        credentials = authResult.credentials;
        attributes = authResult.attributes;
      } else {
        result = {
          status: 'no-auth',
          scheme: 'none',
          expires: new Date(Date.now() + 15 * 60 * 1000),
          scopes: expandScopes(['assume:anonymous']),
        };
      }
      result = result || {
        status: 'auth-success',
        scheme: 'hawk',
        expires: credentials.expires,
        scopes: credentials.scopes,
        clientId: credentials.clientId,
      };
      if (attributes && attributes.hash) {
        result.hash = attributes.hash;
      }
    } catch (err) {
      // hawk turns every error into a Boom; client errors keep their text
      // in the payload, errors thrown by loadCredentials in err.message
      let message = err.message || err.toString();
      if (err.isBoom && !err.isServer) {
        message = err.output.payload.error;
        if (err.output.payload.message) {
          message += ': ' + err.output.payload.message;
        }
      }
      result = { status: 'auth-failed', message: message.toString() };
    }
    return result;
  };
};

// The middleware's authenticate(): req is a node request with .query
// (parsed) and .text (the body text as the API's body parser keeps it:
// the JSON text for application/json bodies, otherwise '').
export const authenticateRequest = async (req, signatureValidator) => {
  if (req.headers.authorization && req.query.bewit) {
    return {
      status: 'auth-failed',
      message: 'Cannot use two authentication schemes at once ' +
               'this request has both bewit in querystring and ' +
               'and \'authorization\' header',
    };
  }

  const host = hawk.utils.parseHost(req);
  if (!host) {
    // the middleware would throw a TypeError here (an internal error)
    throw new Error('cannot parse the Host header');
  }
  let port = host.port;
  if (req.headers['x-forwarded-port'] !== undefined) {
    port = parseInt(req.headers['x-forwarded-port'], 10);
  } else if (req.headers['x-forwarded-proto'] !== undefined) {
    port = req.headers['x-forwarded-proto'] === 'https' ? 443 : port;
  }

  let result = await signatureValidator({
    method: req.method.toLowerCase(),
    resource: req.url,
    host: host.name,
    port: parseInt(port, 10),
    authorization: req.headers.authorization,
  });

  if (typeof result.hash === 'string' && result.scheme === 'hawk') {
    // (a hash of the wrong length makes the real middleware's
    // timingSafeEqual throw, an internal error; here it is a mismatch)
    const hash = hawk.crypto.calculatePayloadHash(
      Buffer.from(req.text, 'utf-8'), 'sha256', req.headers['content-type']);
    if (Buffer.byteLength(result.hash) !== Buffer.byteLength(hash) ||
        !crypto.timingSafeEqual(Buffer.from(result.hash), Buffer.from(hash))) {
      // (the {{hash}} placeholder stays as it is: the real middleware
      // passes no `hash` detail to fill it)
      result = {
        status: 'auth-failed',
        message:
          'Invalid payload hash: {{hash}}\n' +
          'Computed payload hash: {{computedHash}}\n' +
          'This happens when your request carries a signed hash of the ' +
          'payload and the hash doesn\'t match the hash we\'ve computed ' +
          'on the server-side.',
        computedHash: hash,
      };
    }
  }
  return result;
};

// An error the API answers with its JSON error shape.
export class ErrorReply extends Error {
  constructor(code, message, details = {}, headers = {}) {
    super(message);
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
}

// req.scopes(), req.clientId(), req.authorize() of the middleware, over a
// lazily computed authentication result.
export class Authorizer {
  constructor(req, signatureValidator) {
    this.req = req;
    this.signatureValidator = signatureValidator;
    this.result = null;
  }

  async authenticate() {
    if (!this.result) {
      this.result = await authenticateRequest(this.req, this.signatureValidator);
    }
    return this.result;
  }

  async scopes() {
    const result = await this.authenticate();
    if (result.status === 'auth-failed') {
      return [];
    }
    return result.scopes || [];
  }

  async clientId() {
    const result = await this.authenticate();
    if (result.status === 'auth-success') {
      return result.clientId || 'unknown-clientId';
    }
    return 'auth-failed:' + result.status;
  }

  // expression: a scope expression, or null for none
  async authorize(expression) {
    const result = await this.authenticate();
    if (result.status === 'auth-failed') {
      throw new ErrorReply('AuthenticationFailed', result.message, result,
        { 'www-authenticate': 'hawk' });
    }
    const authed = !expression || scopeUtils.satisfiesExpression(result.scopes, expression);
    if (!authed) {
      throw new ErrorReply('InsufficientScopes', [
        'Client ID ' + result.clientId + ' does not have sufficient scopes and are missing the following scopes:',
        '',
        '```',
        '{{unsatisfied}}',
        '```',
        '',
        'You have the scopes:',
        '',
        '```',
        '{{scopes}}',
        '```',
        '',
        'This request requires you to satisfy this scope expression:',
        '',
        '```',
        '{{required}}',
        '```',
      ].join('\n'), {
        scopes: result.scopes,
        required: expression,
        unsatisfied: scopeUtils.removeGivenScopes(result.scopes, expression),
      });
    }
  }
}

// Role expansion as the auth service's scope resolver does it, for a
// fixed table of roles: a scope grants role R when it satisfies
// `assume:R`; the result is sorted and normalized.
export const makeScopeExpander = roles => scopes => {
  let set = scopeUtils.normalizeScopeSet([...scopes].sort(scopeUtils.scopeCompare));
  for (;;) {
    let grown = set;
    for (const [roleId, roleScopes] of Object.entries(roles)) {
      if (scopeUtils.satisfiesExpression(grown, 'assume:' + roleId)) {
        grown = scopeUtils.mergeScopeSets(grown,
          scopeUtils.normalizeScopeSet([...roleScopes].sort(scopeUtils.scopeCompare)));
      }
    }
    if (grown.length === set.length && grown.every((s, i) => s === set[i])) {
      return set;
    }
    set = grown;
  }
};
