ALTER TABLE "port_observations" ADD COLUMN "s_http_title" text GENERATED ALWAYS AS (plum_field_text(fields, 'http_title')) STORED;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "s_http_server" text GENERATED ALWAYS AS (plum_field_text(fields, 'http_server')) STORED;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "s_http_headval" text GENERATED ALWAYS AS (plum_field_text(fields, 'http_headval')) STORED;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "s_banner" text GENERATED ALWAYS AS (plum_field_text(fields, 'banner')) STORED;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "s_x509_san" text GENERATED ALWAYS AS (plum_field_text(fields, 'x509_san')) STORED;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "s_x509_subject" text GENERATED ALWAYS AS (plum_field_text(fields, 'x509_subject')) STORED;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "s_x509_issuer" text GENERATED ALWAYS AS (plum_field_text(fields, 'x509_issuer')) STORED;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "s_fqdn" text GENERATED ALWAYS AS (plum_field_text(fields, 'fqdn')) STORED;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "s_domain" text GENERATED ALWAYS AS (plum_field_text(fields, 'domain')) STORED;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "s_service_product" text GENERATED ALWAYS AS (plum_field_text(fields, 'service_product')) STORED;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "s_http_favicon_mmhash" text GENERATED ALWAYS AS (plum_field_text(fields, 'http_favicon_mmhash')) STORED;--> statement-breakpoint
CREATE INDEX "port_observations_s_http_title_trgm_idx" ON "port_observations" USING gin ("s_http_title" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "port_observations_s_http_server_trgm_idx" ON "port_observations" USING gin ("s_http_server" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "port_observations_s_http_headval_trgm_idx" ON "port_observations" USING gin ("s_http_headval" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "port_observations_s_banner_trgm_idx" ON "port_observations" USING gin ("s_banner" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "port_observations_s_x509_san_trgm_idx" ON "port_observations" USING gin ("s_x509_san" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "port_observations_s_x509_subject_trgm_idx" ON "port_observations" USING gin ("s_x509_subject" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "port_observations_s_x509_issuer_trgm_idx" ON "port_observations" USING gin ("s_x509_issuer" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "port_observations_s_fqdn_trgm_idx" ON "port_observations" USING gin ("s_fqdn" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "port_observations_s_domain_trgm_idx" ON "port_observations" USING gin ("s_domain" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "port_observations_s_service_product_trgm_idx" ON "port_observations" USING gin ("s_service_product" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "port_observations_s_http_favicon_mmhash_trgm_idx" ON "port_observations" USING gin ("s_http_favicon_mmhash" gin_trgm_ops);