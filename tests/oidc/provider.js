// A real OpenID Connect provider for Kiln's login tests: panva's certified oidc-provider with
// one confidential client and its built-in development login form (any password; the login
// becomes the subject). Usage: PORT=… REDIRECT_URI=… node provider.js
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

// A test may set users' groups in GROUPS_FILE ({"SUB": ["group", …]}), read at each sign-in.
function groupsOf(sub) {
  if (process.env.GROUPS_FILE) {
    try {
      const set = JSON.parse(readFileSync(process.env.GROUPS_FILE, 'utf8'));
      if (set[sub]) return set[sub];
    } catch (e) {
      // No file yet: the defaults.
    }
  }
  return sub.startsWith('boss') ? ['kiln-admins', 'staff'] : ['staff'];
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'kiln',
      client_secret: 'kiln-test-secret',
      redirect_uris: [process.env.REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        // "nick" lets a test choose the username independently of the subject.
        const [sub, nick] = id.split('~');
        return {
          sub: id,
          email: `${sub}@example.org`,
          preferred_username: nick || sub,
          name: `Test user ${sub}`,
          groups: groupsOf(sub),
        };
      },
    };
  },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'groups'],
    email: ['email'],
  },
  conformIdTokenClaims: false,
  cookies: { keys: ['kiln-test-cookie-key'] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
