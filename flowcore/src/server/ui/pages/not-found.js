// flowcore web UI: the page for any other route.

import { Page } from '../page.js';

export class NotFoundPage extends Page {
  title() { return 'Not found'; }
  skeleton() { return '<div class="empty"><p class="empty-title">Page not found</p><p><a href="#/flow-runs">Go to flow runs</a></p></div>'; }
}
