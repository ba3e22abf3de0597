/**
 * The page of a problem: what is wrong (the error's name and message) and how to fix it. Used for
 * a wrong stack, missing credentials, an unreachable endpoint, bad input in the URL, an unknown
 * task or function, a forbidden request and an unknown route — never a blank page or a stack trace.
 */
import type { Problem } from '../errors';
import { type Crumb, h, type Html, layout } from '../html';

export interface ProblemPageProps {
  readonly problem: Problem;
  readonly label: string;
  readonly csrfToken: string;
  readonly crumbs?: readonly Crumb[];
}

export function renderProblemPage(props: ProblemPageProps): Html {
  const { problem } = props;
  const body = h`<h1>${problem.title}</h1>
<div class="alert" role="alert" id="error" data-kind="${problem.kind}">
  <p><strong id="error-name">${problem.name}</strong>: <span id="error-message">${problem.message}</span></p>
</div>
${
  problem.fix.length > 0
    ? h`<section aria-labelledby="fix-title"><h2 id="fix-title">How to fix it</h2><ul id="fix">${problem.fix.map((step) => h`<li>${step}</li>`)}</ul></section>`
    : ''
}
<p class="where">The console sends its requests to: <span>${props.label}</span>. <a href="/">Back to the functions</a></p>`;
  return layout({ title: problem.title, label: props.label, csrfToken: props.csrfToken, crumbs: props.crumbs ?? [], body });
}
