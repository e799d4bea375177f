/**
 * The Temporal UI's page of a workflow: `BASE/namespaces/NS/workflows/ID`
 * (the UI opens the latest run of that id). Namespace and workflow id are
 * escaped as path segments: profile runs' ids carry colons and timestamps,
 * and a namespace may hold any character Temporal allows.
 */
export function temporalWorkflowUrl(base: string, namespace: string, workflowId: string): string {
  return `${base.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/**
 * The Temporal UI base for run links, or undefined: only in distributed mode
 * (PLUM_TEMPORAL_ADDRESS set) with PLUM_TEMPORAL_UI_URL set. The embedded
 * runner's workflow ids name no Temporal workflow, so embedded mode never links.
 */
export function temporalUiBase(config: { PLUM_TEMPORAL_ADDRESS?: string; PLUM_TEMPORAL_UI_URL?: string }): string | undefined {
  return config.PLUM_TEMPORAL_ADDRESS ? config.PLUM_TEMPORAL_UI_URL : undefined;
}
