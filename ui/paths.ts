/** Paths that belong to the API, the registry or metrics: never rendered as pages. */
export const isUiPath = (path: string) => !/^\/(api|service|metrics)(\/|$)/.test(path);
