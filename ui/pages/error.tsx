import type { FC } from 'hono/jsx';
import { Layout } from '../components/layout';
import type { View } from '../view';

export const ErrorPage: FC<{ v: View; title: string; detail?: string | null }> = ({ v, title, detail }) => {
  const { t } = v.i18n;
  return (
    <Layout v={v} title={title}>
      <section class="card narrow">
        <h1>{title}</h1>
        {detail ? <p class="alert alert-error">{detail}</p> : null}
        <p>
          <a href="/projects">{t('error.backToProjects')}</a>
        </p>
      </section>
    </Layout>
  );
};
