import type { FC } from 'hono/jsx';
import { ConfirmButtons, ErrorBox, PostForm } from '../components/common';
import { Layout } from '../components/layout';
import type { NavKey, View } from '../view';

export interface ConfirmProps {
  v: View;
  title: string;
  /** What goes, as facts (label, value). */
  facts: [string, string][];
  warning: string;
  action: string;
  fields: Record<string, string>;
  button: string;
  back: string;
  nav: NavKey;
  error?: string | null;
}

/** A second step before something is deleted for good: a POST form with the CSRF token and a way back. */
export const ConfirmPage: FC<ConfirmProps> = ({ v, title, facts, warning, action, fields, button, back, nav, error }) => {
  return (
    <Layout v={v} title={title} nav={nav}>
      <section class="card narrow">
        <h1>{title}</h1>
        <ErrorBox message={error} />
        <dl class="facts">
          {facts.map(([label, value]) => (
            <>
              <dt>{label}</dt>
              <dd>{value}</dd>
            </>
          ))}
        </dl>
        <p class="alert alert-warn">{warning}</p>
        <PostForm v={v} action={action} class="inline-form">
          {Object.entries(fields).map(([name, value]) => (
            <input type="hidden" name={name} value={value} />
          ))}
          <ConfirmButtons v={v} label={button} back={back} />
        </PostForm>
      </section>
    </Layout>
  );
};
