import { serve } from './cli/serve';

/** The only entry of `npm start`: the same as `wharf serve`. */
await serve();
