/* status_page.h: the live status page served at / by --http. */
#ifndef STATUS_PAGE_H
#define STATUS_PAGE_H

/* A self-contained HTML page that polls /status.json every two seconds. */
const char *
    status_page_html (void);

#endif
